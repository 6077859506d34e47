"""The index steps share their lookups (issue 13, round 2): one A-number lookup and one name
search per IAQ however many indices ask, the same answers as each index looking alone."""

import hashlib
from datetime import date
from typing import Any, cast

from test_lesc_indices import open_index, person, searched  # noqa: F401

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
