"""The people of the central index an IAQ's identifiers and name point to, for every index.

The indices beyond the central one hold people of the central index (identifiers.py), so
searching one is: find the people the IAQ's identifiers name, then keep those the index holds.
The name + DOB search, the decoding of the FBI number and SID, each A-number lookup and each
set of identifiers' subjects are run once per IAQ however many indices ask for them: one
:class:`Subjects` an IAQ, kept in ``exchange.data`` (:func:`subjects_of`). An index step takes
it with one call and reads the tables, the name search and its subjects from it (a helper
call for each of them cost about five calls a step).
"""

from collections.abc import Iterable, Mapping
from typing import Any, Final

from formats.iaq import IAQ
from responders.base import Exchange
from responders.lesc.desk import LescState, lesc_state
from responders.lesc.indices.finding import IndexFinding
from responders.lesc.indices.identifiers import arn_of_fbi, arn_of_sid
from responders.lesc.read_ahead import read_ahead_of

# No identifier chosen by an index is in the IAQ.
_BY_NAME: Final = (False, False, False)


class Subjects:
    """What the indices search for one IAQ: its name candidates, its identifiers' records, the
    index files' tables, and the findings the steps append. The records' lists it gives are
    shared by every index that asks: read, not changed.
    """

    __slots__ = ("_a_numbers", "_by_arn", "_found_by", "_index", "_numbered", "by_name",
                 "findings", "iaq", "tables")

    def __init__(self, iaq: IAQ, state: LescState, findings: list[IndexFinding],
                 by_name: list[Any] | None = None) -> None:
        self.iaq = iaq
        # Where each index step appends its finding, in search order: the exchange's
        # ``data["indices"]``, which the IAR and the figures read.
        self.findings = findings
        # The people an index file lists, by index name (files.py); none: synthetic data.
        self.tables: Mapping[str, Mapping[str, Any]] = state.tables
        self._index = state.index
        # Records matching the IAQ's name, DOB and sex as the central index searches them:
        # every IAQ needs them (SEVIS searches by name alone, the others add them). Given
        # when the pipeline searched them ahead.
        self.by_name: list[Any] = (
            state.index.by_name(iaq.last, iaq.first, iaq.dob, iaq.sex) if by_name is None
            else by_name
        )
        self._by_arn: dict[str, Any | None] = {}
        self._found_by: dict[tuple[bool, bool, bool], list[Any]] = {}
        self._a_numbers: tuple[str | None, str | None, str | None] | None = None
        # Whether the IAQ carries any identifier an index may choose: most carry none, and
        # every index then searches by name alone (a test each call saves the index steps
        # some 2,600 instructions an IAQ).
        self._numbered = iaq.arn is not None or iaq.fbi is not None or iaq.sid is not None

    def record(self, arn: str) -> Any | None:
        """The record with this A-number (9 digits), looked up once per IAQ."""
        looked_up = self._by_arn
        if arn in looked_up:
            return looked_up[arn]
        record = looked_up[arn] = self._index.by_arn(arn)
        return record

    def chosen(self, *, arn: bool = False, fbi: bool = False, sid: bool = False) -> list[Any]:
        """The records the IAQ's chosen identifiers find, then those its name finds; each once."""
        if not self._numbered:
            return self.by_name
        iaq = self.iaq
        # Only the chosen identifiers the IAQ carries count.
        chosen = (arn and iaq.arn is not None, fbi and iaq.fbi is not None,
                  sid and iaq.sid is not None)
        if chosen == _BY_NAME:
            return self.by_name
        found = self._found_by.get(chosen)
        if found is None:
            found = self._found_by[chosen] = self._by_numbers(*chosen)
        return found

    def _by_numbers(self, arn: bool, fbi: bool, sid: bool) -> list[Any]:
        records: list[Any] = []
        named = False
        for number, wanted in zip(self._numbers(), (arn, fbi, sid), strict=True):
            if wanted and number is not None:
                named = True
                record = self.record(number)
                if record is not None:
                    records.append(record)
        return _once(records, self.by_name) if named else self.by_name

    def _numbers(self) -> tuple[str | None, str | None, str | None]:
        # The A-numbers the IAQ's ARN, FBI number and SID name (None: not given, or naming no
        # one), decoded once per IAQ however many indices search by them.
        numbers = self._a_numbers
        if numbers is None:
            iaq = self.iaq
            from_sid = None if iaq.sid is None else arn_of_sid(iaq.sid)
            numbers = self._a_numbers = (
                iaq.arn,
                None if iaq.fbi is None else arn_of_fbi(iaq.fbi),
                None if from_sid is None else from_sid[0],
            )
        return numbers


def subjects_of(exchange: Exchange) -> Subjects:
    """The subjects of the exchange's validated IAQ (``exchange.data["iaq"]``), made once."""
    found: Subjects | None = exchange.data.get("subjects")
    if found is None:
        data = exchange.data
        iaq = data["iaq"]
        # The search read ahead holds for the IAQ read ahead, not for one a step put instead.
        ahead = read_ahead_of(exchange)
        found = data["subjects"] = Subjects(
            iaq, lesc_state(exchange), data.setdefault("indices", []),
            ahead.by_name if ahead is not None and ahead.iaq is iaq else None,
        )
    return found


def _once(*groups: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    records = []
    for group in groups:
        for record in group:
            if record.arn not in seen:
                seen.add(record.arn)
                records.append(record)
    return records
