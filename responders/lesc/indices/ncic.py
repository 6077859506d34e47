"""NCIC: the Immigration Violator File records ICE enters, by FBI number, then name + DOB.

The IVF records are those of the central index with an IVF category and NCIC number (the
records NCIC's QW answers from, responders/lesc/ncic.py); the IAQ carries no NIC, so the
search goes by the FBI number (identifiers.py) and by name and DOB.
"""

from typing import Final

from responders.base import Exchange
from responders.lesc.indices.finding import IndexFinding
from responders.lesc.indices.subjects import subjects_of

NAME: Final = "NCIC"
MISS: Final = IndexFinding(NAME, False)


def search(exchange: Exchange) -> None:
    """Find the subject's IVF records."""
    people = subjects_of(exchange)
    records = []
    for record in people.chosen(fbi=True):
        if record.ivf is not None:
            records.append(record)
    if not records:
        people.findings.append(MISS)
        return
    detail: list[tuple[str, str]] = []
    entries: list[str] = []
    for record in records:
        detail += [("NIC", record.nic), ("IVF", record.ivf)]
        entries.append(f"{record.ivf} NIC {record.nic}")
    summary = f"{NAME}: IMMIGRATION VIOLATOR FILE: {'; '.join(entries)}."
    people.findings.append(IndexFinding(NAME, True, tuple(detail), summary))
