"""SEVIS: the Student and Exchange Visitor Information System, by name + DOB.

SEVIS holds F and M students and J exchange visitors under their SEVIS ID. The IAQ has no
SEVIS ID field (SPEC.md §3), so the LESC searches it by name and DOB. Synthetic data: every
record of the central index admitted as F1, M1 or J1 that is a nonimmigrant (NIV: the record
is active) or out of status (OOS: terminated).
"""

from collections.abc import Mapping
from typing import Any, Final

from responders.base import Exchange
from responders.lesc.indices.finding import IndexFinding
from responders.lesc.indices.identifiers import sevis_id
from responders.lesc.indices.subjects import subjects_of

NAME: Final = "SEVIS"
MISS: Final = IndexFinding(NAME, False)
PROGRAMS: Final = {"F1": "STUDENT", "M1": "VOCATIONAL STUDENT", "J1": "EXCHANGE VISITOR"}
RECORD_STATUS: Final = {"NIV": "ACTIVE", "OOS": "TERMINATED"}


def enrolment(
    record: Any, table: Mapping[str, tuple[str, str]] | None = None
) -> tuple[str, str] | None:
    """The class and record status SEVIS holds for this person, or None.

    ``table`` is sevis.csv's, when given (files.py): it replaces the synthetic data.
    """
    if table is not None:
        return table.get(record.arn)
    if record.coa in PROGRAMS and record.status in RECORD_STATUS:
        return record.coa, RECORD_STATUS[record.status]
    return None


def search(exchange: Exchange) -> None:
    """Find the subject's student or exchange visitor records."""
    people = subjects_of(exchange)
    table = people.tables.get(NAME)
    found: list[tuple[Any, tuple[str, str]]] = []
    for record in people.by_name:
        held = enrolment(record, table)
        if held is not None:
            found.append((record, held))
    if not found:
        people.findings.append(MISS)
        return
    detail: list[tuple[str, str]] = []
    entries: list[str] = []
    for record, (coa, state) in found:
        number = sevis_id(record.arn)
        detail += [("SEVIS", number), ("CLASS", coa), ("RECORD", state)]
        entries.append(f"{coa} {PROGRAMS[coa]} {number}, {state}")
    summary = f"{NAME}: {'; '.join(entries)}."
    people.findings.append(IndexFinding(NAME, True, tuple(detail), summary))
