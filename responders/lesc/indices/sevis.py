"""SEVIS: the Student and Exchange Visitor Information System, by name + DOB.

SEVIS holds F and M students and J exchange visitors under their SEVIS ID. The IAQ has no
SEVIS ID field (SPEC.md §3), so the LESC searches it by name and DOB. Synthetic data: every
record of the central index admitted as F1, M1 or J1 that is a nonimmigrant (NIV: the record
is active) or out of status (OOS: terminated).
"""

from typing import Any, Final

from responders.base import Exchange
from responders.lesc.indices.finding import IndexFinding, add_finding
from responders.lesc.indices.identifiers import sevis_id
from responders.lesc.indices.subjects import name_candidates

NAME: Final = "SEVIS"
MISS: Final = IndexFinding(NAME, False)
PROGRAMS: Final = {"F1": "STUDENT", "M1": "VOCATIONAL STUDENT", "J1": "EXCHANGE VISITOR"}
RECORD_STATUS: Final = {"NIV": "ACTIVE", "OOS": "TERMINATED"}


def enrolled(record: Any) -> bool:
    """Whether SEVIS holds this person."""
    return record.coa in PROGRAMS and record.status in RECORD_STATUS


def search(exchange: Exchange) -> None:
    """Find the subject's student or exchange visitor records."""
    records = [record for record in name_candidates(exchange) if enrolled(record)]
    if not records:
        add_finding(exchange, MISS)
        return
    detail: list[tuple[str, str]] = []
    entries: list[str] = []
    for record in records:
        number, state = sevis_id(record.arn), RECORD_STATUS[record.status]
        detail += [("SEVIS", number), ("CLASS", record.coa), ("RECORD", state)]
        entries.append(f"{record.coa} {PROGRAMS[record.coa]} {number}, {state}")
    summary = f"{NAME}: {'; '.join(entries)}."
    add_finding(exchange, IndexFinding(NAME, True, tuple(detail), summary))
