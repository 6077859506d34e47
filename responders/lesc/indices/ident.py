"""US-VISIT/IDENT: DHS's biometric encounters, by FBI number, then name + DOB.

IDENT keeps the fingerprints DHS takes at visa issuance, at entry, for immigration benefits
and at apprehension, under a fingerprint identification number (FIN). Synthetic data: every
removed, out-of-status or nonimmigrant person of the central index, 70% of permanent residents
and half the naturalized citizens, with one to four encounters (a removed person at least
two: the arrest and the removal); no citizen by birth (no class of admission) and nobody born
in the US (POB US).
"""

from collections.abc import Mapping
from typing import Any, Final

from responders.base import Exchange
from responders.lesc.indices.finding import IndexFinding
from responders.lesc.indices.identifiers import fin, uniforms
from responders.lesc.indices.subjects import subjects_of

NAME: Final = "IDENT"
MISS: Final = IndexFinding(NAME, False)
ENROLLED_SHARE: Final = {"REM": 1.0, "OOS": 1.0, "NIV": 1.0, "LPR": 0.7, "USC": 0.5}


def encounters(record: Any, table: Mapping[str, int] | None = None) -> int:
    """How many times DHS took this person's fingerprints (0: not in IDENT).

    ``table`` is ident.csv's, when given (files.py): it replaces the synthetic data.
    """
    if table is not None:
        return table.get(record.arn, 0)
    if record.pob == "US" or not record.coa:
        return 0
    enrolled, count, _, _ = uniforms(NAME, record.arn)
    if enrolled >= ENROLLED_SHARE.get(record.status, 0.0):
        return 0
    least = 2 if record.status == "REM" else 1
    return least + int(count * (5 - least))


def search(exchange: Exchange) -> None:
    """Find the subject's biometric encounters."""
    people = subjects_of(exchange)
    table = people.tables.get(NAME)
    found: list[tuple[str, int]] = []
    for record in people.chosen(fbi=True):
        n = encounters(record, table)
        if n:
            found.append((fin(record.arn), n))
    if not found:
        people.findings.append(MISS)
        return
    detail: list[tuple[str, str]] = []
    entries: list[str] = []
    for number, n in found:
        detail += [("FIN", number), ("ENCOUNTERS", str(n))]
        entries.append(f"FIN {number}, {n} ENCOUNTER{'S' * (n > 1)}")
    summary = f"{NAME}: BIOMETRIC RECORD: {'; '.join(entries)}."
    people.findings.append(IndexFinding(NAME, True, tuple(detail), summary))
