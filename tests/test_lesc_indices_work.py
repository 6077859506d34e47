"""The LESC's steps do less work for the same answers (issue 13, round 2): one A-number lookup
and one name search per IAQ however many indices ask, the same draws, and the IAR's name
comparison with its fast paths the letter-by-letter one."""

import hashlib
from datetime import date
from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st
from test_lesc_indices import open_index, person, searched  # noqa: F401

from responders.lesc.iaq_steps import Inquiry, same_name
from responders.lesc.index import ImmigrationIndex, Record
from responders.lesc.indices.identifiers import _check, fbi_number, sid_number, uniforms


class Counted:
    """A real index that counts the lookups the steps make."""

    def __init__(self, index: ImmigrationIndex) -> None:
        self.index = index
        self.arns: list[str] = []
        self.names = 0

    def by_arn(self, arn: str) -> Record | None:
        """Counted A-number lookup."""
        self.arns.append(arn)
        return self.index.by_arn(arn)

    def by_name(self, last: str, first: str, dob: date, sex: str | None) -> list[Record]:
        """Counted name search."""
        self.names += 1
        return self.index.by_name(last, first, dob, sex)


def test_each_a_number_is_looked_up_once_per_iaq(open_index: Any) -> None:  # noqa: F811
    subject = person("100000007", status="REM", ivf="DEPORTED FELON", nic="I000000001")
    counted = Counted(open_index([subject, person("100000008", first="JANE")]))
    exchange = searched(cast(ImmigrationIndex, counted), ARN="A100000007",
                        FBI=fbi_number("100000007"), SID=sid_number("100000007", "CA"))  # fmt: skip
    # ARN, FBI number and SID name the same person: six indices, one lookup, one name search.
    assert counted.arns == ["100000007"]
    assert counted.names == 1
    assert [f.hit for f in exchange.data["indices"]][:3] == [True, True, True]


def test_the_draws_and_check_digits_are_those_of_the_first_version() -> None:
    # The values the indices drew before their cost was cut: the answers rest on them.
    digest = hashlib.blake2b(b"III:123456789", digest_size=16).digest()
    words = [int.from_bytes(digest[at : at + 4]) for at in range(0, 16, 4)]
    assert uniforms("III", "123456789") == tuple(word / 2**32 for word in words)
    for number in (0, 7, 99_999_999, 123_456_789, 999_999_999):
        assert _check(number) == sum(map(int, str(number))) % 6


def letters_only(name: str) -> str:
    """A name's letters A-Z, as the IAR's comparison read them before its fast paths."""
    return "".join(char for char in name.upper() if "A" <= char <= "Z")


def same_name_letter_by_letter(inquiry: Inquiry, record: Record) -> bool:
    """same_name as first written: every part reduced to its letters, then compared."""
    if letters_only(inquiry.last) != letters_only(record.last):
        return False
    asked, on_record = letters_only(inquiry.first), letters_only(record.first)
    if len(asked) == 1 or len(on_record) == 1:
        if asked[:1] != on_record[:1]:
            return False
    elif asked != on_record:
        return False
    asked, on_record = letters_only(inquiry.middle), letters_only(record.middle)
    return not (asked and on_record) or asked[0] == on_record[0]


NAMES = st.sampled_from(["", "J", "JOHN", "john", "JO-HN", "O'BRIEN", "OBRIEN", "DE LA CRUZ",
                         "ÉMILE", "EMILE", "ß", "SS", " ", "-"]) | st.text(max_size=6)  # fmt: skip


@given(NAMES, NAMES, NAMES, NAMES, NAMES, NAMES)
def test_same_name_is_the_letter_by_letter_comparison(
    last: str, first: str, middle: str, record_last: str, record_first: str, record_middle: str
) -> None:
    inquiry = Inquiry(last, first, middle, date(1980, 1, 1))
    for record in (person("100000001", record_last, record_first, middle=record_middle),
                   person("100000002", last, first, middle=middle)):  # fmt: skip
        assert same_name(inquiry, record) == same_name_letter_by_letter(inquiry, record)
