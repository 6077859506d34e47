"""YQ / YR hit confirmation (SPEC.md §3-4) and QW / QR IVF inquiries (SPEC.md §6)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from formats._rules import (
    check_choice,
    check_pattern,
    check_phone,
    check_present,
    check_tags,
    check_text,
)
from formats.person import Person, optional_sex, parse_person

# Only person records (WP) can be confirmed; they add NAM and DOB to the required fields.
_YQ_HEADER_FIELDS = ("RTY", "RNO", "PRI", "OCA", "NIC")
_YQ_PERSON_FIELDS = ("NAM", "DOB")
_YQ_ALLOWED = frozenset(
    _YQ_HEADER_FIELDS + _YQ_PERSON_FIELDS + ("SEX", "RNA", "RAG", "PHO", "REM")
)
_RECORD_TYPES = frozenset({"WP"})
_REQUEST_NUMBERS = frozenset({"1", "2", "3"})
_PRIORITIES = frozenset({"U", "R"})
_NIC = re.compile("[A-Z][0-9]{9}")
_QW_REQUIRED = ("NAM", "DOB")
_QW_ALLOWED = frozenset({"NAM", "DOB", "SEX"})


@dataclass(slots=True)
class YQ(Person):
    """A validated hit confirmation request about a person record (RTY/WP)."""

    rty: str
    rno: int
    pri: str
    oca: str
    nic: str
    rna: str | None
    rag: str | None
    pho: str | None
    rem: str | None


@dataclass(slots=True)
class QW(Person):
    """A validated NCIC wanted-person inquiry for the IVF."""


def validate_yq(fields: Mapping[str, str], today: date) -> YQ:
    """Apply the YQ rules; raises MessageError (.14. missing, .05. DOB, .22. other)."""
    check_tags(fields, _YQ_ALLOWED, "YQ")
    check_present(fields, _YQ_HEADER_FIELDS)
    # The record type decides which further fields are required, so it is judged first.
    rty = check_choice(fields["RTY"], "RTY", _RECORD_TYPES, "MUST BE WP")
    check_present(fields, _YQ_PERSON_FIELDS)
    rno = check_choice(fields["RNO"], "RNO", _REQUEST_NUMBERS, "MUST BE 1, 2 OR 3")
    pri = check_choice(fields["PRI"], "PRI", _PRIORITIES, "MUST BE U OR R")
    oca = check_text(fields["OCA"], "OCA", 20)
    nic = check_pattern(fields["NIC"], "NIC", _NIC, "MUST BE A LETTER AND 9 DIGITS")
    nam, last, first, middle, dob = parse_person(fields, today)
    sex = optional_sex(fields)
    rna = fields.get("RNA")
    if rna is not None:
        check_text(rna, "RNA", 30)
    rag = fields.get("RAG")
    if rag is not None:
        check_text(rag, "RAG", 30)
    pho = fields.get("PHO")
    if pho is not None:
        check_phone(pho, "PHO")
    rem = fields.get("REM")
    if rem is not None:
        check_text(rem, "REM", 300)
    return YQ(
        nam, last, first, middle, dob, sex, rty, int(rno), pri, oca, nic, rna, rag, pho, rem
    )


def validate_qw(fields: Mapping[str, str], today: date) -> QW:
    """Apply the QW rules (NAM, DOB required; SEX optional)."""
    check_tags(fields, _QW_ALLOWED, "QW")
    check_present(fields, _QW_REQUIRED)
    nam, last, first, middle, dob = parse_person(fields, today)
    return QW(nam, last, first, middle, dob, optional_sex(fields))
