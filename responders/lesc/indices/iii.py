"""The FBI's Interstate Identification Index (III): who has a criminal history, and where.

III holds an index of people with criminal history records and the state repositories that
hold the records; a search by FBI number, SID or name + DOB finds the subject and the LESC then
asks each of those repositories. Synthetic data: every deported felon has a history, and a
share of the other removed (REM) and out-of-status (OOS) records, each with one to three state
repositories, all drawn from the A-number (identifiers.py).
"""

from collections.abc import Mapping
from typing import Any, Final

from responders.base import Exchange
from responders.lesc.indices.finding import IndexFinding
from responders.lesc.indices.identifiers import fbi_number, sid_number, uniforms
from responders.lesc.indices.subjects import subjects_of

NAME: Final = "III"
MISS: Final = IndexFinding(NAME, False)
# Shares of records with a criminal history, by status; a deported felon always has one.
HISTORY_SHARE: Final = {"REM": 0.4, "OOS": 0.15}
# How many states hold records of one person: 1 (60%), 2 (30%), 3 (10%).
_REPOSITORIES: Final = ((0.6, 1), (0.9, 2), (1.0, 3))
# States whose repositories answer, roughly by their share of the LESC's queries.
_STATES: Final = ("CA", "TX", "FL", "NY", "IL", "AZ", "NJ", "GA", "NC", "WA", "NV", "CO")


def repositories(
    record: Any, table: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[str, ...]:
    """The states holding criminal history records of this person (none: no history).

    ``table`` is iii.csv's, when given (files.py): it replaces the synthetic data.
    """
    if table is not None:
        return table.get(record.arn, ())
    felon = record.ivf == "DEPORTED FELON"
    if not felon and record.status not in HISTORY_SHARE:
        return ()
    first, second, third, fourth = uniforms(NAME, record.arn)
    if not felon and first >= HISTORY_SHARE[record.status]:
        return ()
    count = next(n for limit, n in _REPOSITORIES if second < limit)
    states: list[str] = []
    for draw in (third, fourth, (third + fourth) % 1.0)[:count]:
        at = int(draw * len(_STATES))
        # A state already drawn gives way to the next one: the count is what was drawn.
        while _STATES[at] in states:
            at = (at + 1) % len(_STATES)
        states.append(_STATES[at])
    return tuple(states)


def search(exchange: Exchange) -> None:
    """Find the subject's criminal history by FBI number, SID, then name and DOB."""
    people = subjects_of(exchange)
    iaq = people.iaq
    table = people.tables.get(NAME)
    found: list[tuple[Any, tuple[str, ...]]] = []
    for record in people.chosen(fbi=True, sid=True):
        states = repositories(record, table)
        if states:
            found.append((record, states))
    if not found:
        people.findings.append(MISS)
        return
    detail: list[tuple[str, str]] = []
    entries: list[str] = []
    queried: list[str] = []
    for record, states in found:
        fbi = fbi_number(record.arn)
        # The SID of the state that asked, when it holds a record; else of the first state.
        home = iaq.sid[:2] if iaq.sid is not None and iaq.sid[:2] in states else states[0]
        detail += [
            ("FBI", fbi),
            ("SID", sid_number(record.arn, home)),
            ("STATES", " ".join(states)),
        ]
        entries.append(f"FBI {fbi}, RECORDS IN {' '.join(states)}")
        queried += [state for state in states if state not in queried]
    summary = f"{NAME}: CRIMINAL HISTORY: {'; '.join(entries)}."
    people.findings.append(IndexFinding(NAME, True, tuple(detail), summary, len(queried)))
