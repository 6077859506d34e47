"""The people of the central index an IAQ's identifiers and name point to, for every index.

The indices beyond the central one hold people of the central index (identifiers.py), so
searching one is: find the people the IAQ's identifiers name, then keep those the index holds.
The name + DOB search, the decoding of the FBI number and SID, each A-number lookup and each
set of identifiers' subjects are run once per IAQ however many indices ask for them (kept in
``exchange.data``).
"""

from collections.abc import Iterable, Mapping
from typing import Any, Final

from formats.iaq import IAQ
from responders.base import Exchange
from responders.lesc.desk import lesc_state
from responders.lesc.indices.identifiers import arn_of_fbi, arn_of_sid

# No identifier chosen by an index is in the IAQ.
_BY_NAME: Final = (False, False, False)


def table_of(exchange: Exchange, index: str) -> Mapping[str, Any] | None:
    """The people an index file lists for this index (files.py), or None: synthetic data."""
    return lesc_state(exchange).tables.get(index)


def name_candidates(exchange: Exchange) -> list[Any]:
    """Records matching the IAQ's name, DOB and sex as the central index searches them."""
    found: list[Any] | None = exchange.data.get("name_candidates")
    if found is None:
        iaq: IAQ = exchange.data["iaq"]
        found = lesc_state(exchange).index.by_name(iaq.last, iaq.first, iaq.dob, iaq.sex)
        exchange.data["name_candidates"] = found
    return found


def record_of(exchange: Exchange, arn: str) -> Any | None:
    """The record with this A-number (9 digits), looked up once per IAQ."""
    looked_up: dict[str, Any] | None = exchange.data.get("by_arn")
    if looked_up is None:
        looked_up = exchange.data["by_arn"] = {}
    if arn in looked_up:
        return looked_up[arn]
    record = looked_up[arn] = lesc_state(exchange).index.by_arn(arn)
    return record


def subjects(
    exchange: Exchange, *, arn: bool = False, fbi: bool = False, sid: bool = False
) -> list[Any]:
    """The records the IAQ's chosen identifiers find, then those its name finds; each once.

    The list is shared by every index that asks with the same identifiers: read, not changed.
    """
    iaq: IAQ = exchange.data["iaq"]
    # Only the chosen identifiers the IAQ carries count: most IAQs carry none of them, and
    # those find their subjects by name alone, whichever index asks.
    chosen = (arn and iaq.arn is not None, fbi and iaq.fbi is not None, sid and iaq.sid is not None)
    if chosen == _BY_NAME:
        return name_candidates(exchange)
    found_by: dict[tuple[bool, bool, bool], list[Any]] | None = exchange.data.get("subjects")
    if found_by is None:
        found_by = exchange.data["subjects"] = {}
    found = found_by.get(chosen)
    if found is None:
        found = found_by[chosen] = _subjects(exchange, *chosen)
    return found


def _subjects(exchange: Exchange, arn: bool, fbi: bool, sid: bool) -> list[Any]:
    chosen = zip(_a_numbers(exchange), (arn, fbi, sid), strict=True)
    numbers = [number for number, wanted in chosen if wanted and number is not None]
    if not numbers:
        return name_candidates(exchange)
    by_number = (record_of(exchange, number) for number in numbers)
    return _once([record for record in by_number if record is not None], name_candidates(exchange))


def _a_numbers(exchange: Exchange) -> tuple[str | None, str | None, str | None]:
    # The A-numbers the IAQ's ARN, FBI number and SID name (None: not given, or naming no
    # one), decoded once per IAQ however many indices search by them.
    numbers: tuple[str | None, str | None, str | None] | None = exchange.data.get("a_numbers")
    if numbers is None:
        iaq: IAQ = exchange.data["iaq"]
        from_sid = None if iaq.sid is None else arn_of_sid(iaq.sid)
        numbers = exchange.data["a_numbers"] = (
            iaq.arn,
            None if iaq.fbi is None else arn_of_fbi(iaq.fbi),
            None if from_sid is None else from_sid[0],
        )
    return numbers


def _once(*groups: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    records = []
    for group in groups:
        for record in group:
            if record.arn not in seen:
                seen.add(record.arn)
                records.append(record)
    return records
