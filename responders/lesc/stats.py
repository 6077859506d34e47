"""The yearly figures the LESC publishes, from the LESC's tables in its store (``iaqgw stats``).

Per federal fiscal year (October 1 to September 30, UTC) and per state (the requester's line):

- queries received: valid IAQs by purpose (PUR/C, PUR/F), YQs (every request, follow-ups
  included) and QWs; inputs answered with an ER are not queries; IAQs also by source,
  biometric (from the FBI CJIS Division after a fingerprint match, counted for the booking
  agency's state) or biographic (an agency's own query);
- detainers lodged (by the time they were lodged);
- hit confirmations: requests answered CONFIRMED, NOT CONFIRMED, or still open;
- distinct ORIs served: requesting ORIs among those queries;
- per index (CIS, NCIC, III ...): IAQs that searched it and IAQs it found a record for, from
  the ``IDX/`` listing of each IAR (IAQs of journals older than the listing count in neither);
- response time, median and 99th percentile: from a query entering the switch to its final
  answer (the enhanced IAR when one was due, the final YR of a hit confirmation, the IAR or
  QR otherwise), for requests whose final answer is out. YQ follow-ups belong to their case.
  Percentiles come from an HDR histogram (3 significant digits), in milliseconds.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from hdrh.histogram import HdrHistogram

from responders.base import POSTGRESQL, SQLITE, Connection, table_columns
from responders.lesc.desk import CLOSED, CONFIRMED, HIT, NOT_CONFIRMED
from responders.lesc.indices.finding import parse_listing

QUERY_KINDS: Final = ("IAQ_C", "IAQ_F", "YQ", "QW")
IAQ_SOURCES: Final = ("biometric", "biographic")
# Response times from 0 ms to 30 days.
_HIGHEST_MS: Final = 30 * 24 * 3600 * 1000
TOTAL: Final = "TOTAL"
# Units of a shown duration, largest first; below a second it is shown in whole ms.
_DURATION_UNITS: Final = ((3_600_000, "h"), (60_000, "min"), (1000, "s"))


def fiscal_year(moment: datetime) -> int:
    """The federal fiscal year of a moment: FY2026 runs from 2025-10-01 to 2026-09-30."""
    return moment.year + 1 if moment.month >= 10 else moment.year


def fiscal_span(year: int) -> tuple[date, date]:
    """First and last day of a fiscal year."""
    return date(year - 1, 10, 1), date(year, 9, 30)


def format_duration(ms: int | None) -> str:
    """A response time for people: ``40 ms``, ``1.4 s``, ``1.5 min``, ``2.0 h``; "" for None."""
    if ms is None:
        return ""
    for size, unit in _DURATION_UNITS:
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms} ms"


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, _HIGHEST_MS, 3)


@dataclass
class Figures:
    """The figures of one state (or all states) in one fiscal year."""

    queries: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUERY_KINDS, 0))
    iaq_sources: dict[str, int] = field(default_factory=lambda: dict.fromkeys(IAQ_SOURCES, 0))
    detainers: int = 0
    confirmed: int = 0
    not_confirmed: int = 0
    open_hits: int = 0
    oris: set[str] = field(default_factory=set)
    times: HdrHistogram = field(default_factory=_histogram)
    searched: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: "Figures") -> None:
        """Fold another state's figures into these."""
        for kind, count in other.queries.items():
            self.queries[kind] += count
        for source, count in other.iaq_sources.items():
            self.iaq_sources[source] += count
        self.detainers += other.detainers
        self.confirmed += other.confirmed
        self.not_confirmed += other.not_confirmed
        self.open_hits += other.open_hits
        self.oris |= other.oris
        self.times.add(other.times)
        for name, count in other.searched.items():
            self.searched[name] += count
        for name, count in other.hits.items():
            self.hits[name] += count

    def add_indices(self, listing: str) -> None:
        """Count the indices one IAQ searched and those that found a record.

        A listing that cannot be read (a journal edited by hand) counts in neither.
        """
        try:
            pairs = parse_listing(listing)
        except ValueError:
            return
        for name, hit in pairs:
            self.searched[name] += 1
            if hit:
                self.hits[name] += 1

    def percentile(self, value: float) -> int | None:
        """A response-time percentile in ms, or None without answered requests."""
        if self.times.get_total_count() == 0:
            return None
        return int(self.times.get_value_at_percentile(value))

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values."""
        return {
            "queries": {**self.queries, "total": sum(self.queries.values())},
            "iaq_sources": dict(self.iaq_sources),
            "detainers": self.detainers,
            "hit_confirmations": {
                "confirmed": self.confirmed,
                "not_confirmed": self.not_confirmed,
                "open": self.open_hits,
            },
            "distinct_oris": len(self.oris),
            # Indices in the order the LESC searches them: the order they were first counted.
            "indices": {
                name: {"searched": count, "hits": self.hits[name]}
                for name, count in self.searched.items()
            },
            "response_ms": {
                "count": self.times.get_total_count(),
                "median": self.percentile(50),
                "p99": self.percentile(99),
            },
        }


@dataclass
class FiscalYear:
    """One fiscal year's figures, per state and in total."""

    year: int
    states: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))

    def total(self) -> Figures:
        """All states together."""
        total = Figures()
        for figures in self.states.values():
            total.add(figures)
        return total

    def as_dict(self) -> dict[str, Any]:
        """The year as JSON-ready values."""
        first, last = fiscal_span(self.year)
        return {
            "fiscal_year": self.year,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "total": self.total().as_dict(),
            "states": {state: self.states[state].as_dict() for state in sorted(self.states)},
        }


def _moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _ms(start: float, end: float) -> int:
    return max(0, round((end - start) * 1000))


# How many of the LESC's tables the database holds, in each store's catalogue.
_TABLES: Final = " IN ('lesc_queries', 'lesc_cases', 'lesc_detainers')"
_COUNT_TABLES: Final = {
    SQLITE: f"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name{_TABLES}",
    POSTGRESQL: "SELECT COUNT(*) FROM information_schema.tables"
    f" WHERE table_schema = current_schema() AND table_name{_TABLES}",
}


def _has_tables(db: Connection, dialect: str) -> bool:
    row = db.execute(_COUNT_TABLES[dialect]).fetchone()
    return int(row[0]) == 3


def compute(
    db: Connection, only_year: int | None = None, dialect: str = SQLITE
) -> list[FiscalYear]:
    """Every fiscal year with traffic (or just ``only_year``), oldest first; ``dialect`` is
    the store's (responders.base.ServiceStore)."""
    years: dict[int, FiscalYear] = {}

    def figures(moment: float, line: str) -> Figures | None:
        year = fiscal_year(_moment(moment))
        if only_year is not None and year != only_year:
            return None
        if year not in years:
            years[year] = FiscalYear(year)
        return years[year].states[line]

    if not _has_tables(db, dialect):
        return []
    # Journals written before a column came lack it: their IAQs are biographic and list no
    # index.
    columns = table_columns(db, "lesc_queries", dialect)
    biometric = "q.biometric" if "biometric" in columns else "0"
    indices = "q.indices" if "indices" in columns else "NULL"
    rows = db.execute(
        "SELECT q.kind, q.purpose, q.line, q.ori, q.received_at, q.answered_at,"
        f" c.state, c.closed_at, {biometric}, {indices}"
        " FROM lesc_queries q LEFT JOIN lesc_cases c ON c.id = q.input_id"
        " ORDER BY q.input_id"
    )
    for kind, purpose, line, ori, received, answered, case_state, closed, bio, listing in rows:
        target = figures(received, line)
        if target is None:
            continue
        if kind == "IAQ":
            target.queries[f"IAQ_{purpose}"] += 1
            target.iaq_sources[IAQ_SOURCES[0] if bio else IAQ_SOURCES[1]] += 1
        else:
            target.queries[kind] += 1
        target.oris.add(ori)
        if listing:
            target.add_indices(listing)
        if case_state is not None:
            # The request opened a case: its final answer is the case's.
            if case_state == CLOSED:
                target.times.record_value(_ms(received, closed))
        elif kind != "YQ":
            target.times.record_value(_ms(received, answered))
    for line, received, state, outcome in db.execute(
        "SELECT line, received_at, state, outcome FROM lesc_cases WHERE kind = ?", (HIT,)
    ):
        target = figures(received, line)
        if target is None:
            continue
        if state != CLOSED:
            target.open_hits += 1
        elif outcome == CONFIRMED:
            target.confirmed += 1
        elif outcome == NOT_CONFIRMED:
            target.not_confirmed += 1
    for line, lodged in db.execute("SELECT line, lodged_at FROM lesc_detainers"):
        target = figures(lodged, line)
        if target is not None:
            target.detainers += 1
    return [years[year] for year in sorted(years)]
