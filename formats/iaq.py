"""IAQ field rules (SPEC.md §3)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class IAQ:
    """A validated Immigration Alien Query."""

    pur: str
    atn: str
    phn: str
    nam: str
    last: str
    first: str
    middle: str
    dob: date
    sex: str
    pob: str
    cus: str
    off: str
    arn: str | None  # normalised to 9 digits, no leading A
    fbi: str | None
    sid: str | None
    oln: str | None
    ols: str | None
    soc: str | None
    mnu: str | None
    ctz: str | None
    oca: str | None
    rem: str | None


def validate_iaq(fields: Mapping[str, str], today: date) -> IAQ:
    """Apply the IAQ rules; raises MessageError (.14. missing, .05. DOB, .16. ATN, .22. other)."""
    raise NotImplementedError
