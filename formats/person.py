"""The person a query is about: the NAM, DOB and SEX fields every person query carries."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from formats._rules import SEX_CODES, check_choice, parse_name
from formats.dates import parse_dob


# Not frozen, for the reason formats/iaq.py gives: IAQ, YQ and QW extend it.
@dataclass(slots=True)
class Person:
    """NAM as written and its parts, the DOB, and SEX (None where the query may leave it out)."""

    nam: str
    last: str
    first: str
    middle: str
    dob: date
    sex: str | None


def parse_person(fields: Mapping[str, str], today: date) -> tuple[str, str, str, str, date]:
    """NAM, its parts (LAST, FIRST, MIDDLE) and DOB of a query whose fields hold both."""
    nam = fields["NAM"]
    last, first, middle = parse_name(nam)
    return nam, last, first, middle, parse_dob(fields["DOB"], today)


def optional_sex(fields: Mapping[str, str]) -> str | None:
    """The SEX field where a query may leave it out: M, F or U, or None."""
    sex = fields.get("SEX")
    if sex is not None:
        check_choice(sex, "SEX", SEX_CODES, "MUST BE M, F OR U")
    return sex
