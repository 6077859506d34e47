"""Reading the CJIS audit trail kept in the journal's ``audit`` table (docs/reliability.md)."""

import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from formats.times import TimeError, parse_iso

# A delivery row names its output; the input that caused it gives the sending line and the
# input sequence number, so an auditor can follow a message from end to end.
_QUERY = """
SELECT a.at, a.event, a.line, a.ori, a.mke,
       CASE WHEN a.event = 'delivered' THEN i.line ELSE a.line END,
       COALESCE(a.in_seq, i.in_seq), a.out_seq, a.outcome
FROM audit a
LEFT JOIN outputs o ON a.event = 'delivered' AND o.line = a.line AND o.seq = a.out_seq
LEFT JOIN inputs i ON i.id = o.input_id
WHERE (:line IS NULL OR a.line = :line)
  AND (:event IS NULL OR a.event = :event)
  AND (:since IS NULL OR micros(a.at) >= :since)
ORDER BY a.id
LIMIT :limit
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _stored_micros(text: object) -> int | None:
    """An ``at`` column as microseconds since 1970 UTC; None when it is no time."""
    # The text form cannot be compared as text: offsets differ, and isoformat() leaves
    # out the fraction of a second when it is zero.
    if not isinstance(text, str):
        return None
    try:
        return _micros(parse_iso(text))
    except TimeError:
        return None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record as ``iaqgw audit`` shows it."""

    at: str
    event: str
    line: str
    ori: str | None
    mke: str | None
    in_line: str | None
    in_seq: int | None
    out_seq: int | None
    outcome: str | None

    def as_dict(self) -> dict[str, object]:
        """The record as a JSON-ready mapping."""
        return asdict(self)


def read_audit(
    journal: Path,
    *,
    line: str | None = None,
    event: str | None = None,
    since: datetime | None = None,
    limit: int = -1,
) -> list[AuditEntry]:
    """Audit records from a journal file, oldest first; read-only, safe while serving.

    ``since`` (timezone-aware) keeps the records at or after that instant.
    """
    db = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
    try:
        db.create_function("micros", 1, _stored_micros, deterministic=True)
        values = {"line": line, "event": event, "limit": limit,
                  "since": None if since is None else _micros(since)}
        rows = db.execute(_QUERY, values).fetchall()
    finally:
        db.close()
    return [AuditEntry(*row) for row in rows]
