"""YQ / YR hit confirmation (SPEC.md §3–4) and QW / QR IVF inquiries (SPEC.md §6)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class YQ:
    """A validated hit confirmation request."""

    rty: str
    rno: int
    pri: str
    oca: str
    nic: str
    nam: str
    last: str
    first: str
    middle: str
    dob: date
    sex: str | None
    rna: str | None
    rag: str | None
    pho: str | None
    rem: str | None


@dataclass(frozen=True, slots=True)
class QW:
    """A validated NCIC wanted-person inquiry for the IVF."""

    nam: str
    last: str
    first: str
    middle: str
    dob: date
    sex: str | None


def validate_yq(fields: Mapping[str, str], today: date) -> YQ:
    """Apply the YQ rules; raises MessageError (.14. missing, .05. DOB, .22. other)."""
    raise NotImplementedError


def validate_qw(fields: Mapping[str, str], today: date) -> QW:
    """Apply the QW rules (NAM, DOB required; SEX optional)."""
    raise NotImplementedError
