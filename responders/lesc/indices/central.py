"""The central immigration index (CIS): the LESC's own records, by A-number, then name + DOB.

Its finding sets the IAR's status: ``exchange.data["records"]`` (the records that answer) and
``exchange.data["status"]`` (``STS/``), which the detainer, enhanced-response and firearms
steps read, so every run keeps this index first.
"""

from collections.abc import Sequence
from typing import Any, Final

from responders.base import Exchange
from responders.lesc.indices.finding import IndexFinding
from responders.lesc.indices.subjects import subjects_of

NAME: Final = "CIS"


def iar_status(records: Sequence[Any]) -> str:
    """The STS/ value for what the search found."""
    if not records:
        return "NRF"
    if len(records) > 1:
        return "MLT"
    return str(records[0].status)


# The finding of a search that found nobody: the same for every such IAQ, built once.
MISS: Final = IndexFinding(NAME, False, (("STS", iar_status(())),))


def search(exchange: Exchange) -> None:
    """Exact A-number first; otherwise Soundex surname, first initial and DOB (sex filters)."""
    people = subjects_of(exchange)
    iaq = people.iaq
    records: list[Any] | None = None
    if iaq.arn is not None:
        record = people.record(iaq.arn)
        if record is not None:
            records = [record]
    if records is None:
        records = people.by_name
    status = iar_status(records)
    exchange.data["records"] = records
    exchange.data["status"] = status
    if not records:
        people.findings.append(MISS)
        return
    # One record speaks through the IAR's fields; several need a word.
    summary = f"{NAME}: {len(records)} POSSIBLE RECORDS." if len(records) > 1 else ""
    detail = [("STS", status)]
    for record in records:
        detail.append(("ARN", f"A{record.arn}"))
    people.findings.append(IndexFinding(NAME, True, tuple(detail), summary))
