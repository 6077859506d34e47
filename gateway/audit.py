"""Reading the CJIS audit trail kept in the journal's ``audit_log`` table, one entry an event as
the view ``audit`` gives it (docs/reliability.md): a SQLite journal file, or the PostgreSQL
database instances share (every instance's rows)."""

import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from formats.times import TimeError, parse_iso
from gateway.journal import RUN_BY_KEY, RUN_BY_ROWID, accepted_runs, outputs_keyed
from gateway.store import Location, Writer, connect, relation_kind
from responders.base import POSTGRESQL, SQLITE, table_columns

# A delivery row names its outputs (a run of them: gateway/journal.py, SCHEMA), one entry each;
# the input that caused each gives the sending line and the input sequence number, so an
# auditor can follow a message from end to end. An accepted run names its inputs, one entry
# each. Read from the table, not the view ``audit``: in the table's order SQLite stops at a
# LIMIT, where the view's three parts are sorted whole.
_QUERY = """
SELECT a.at, a.event, a.line, COALESCE({run_ori}, a.ori, o.dest),
       COALESCE({run_mke}, a.mke, o.mke),
       CASE WHEN a.event = 'delivered' THEN i.line ELSE a.line END,
       COALESCE(r.in_seq, a.in_seq, i.in_seq), COALESCE(o.seq, a.out_seq), a.outcome
FROM {table} a
LEFT JOIN outputs o ON a.event = 'delivered' AND {run}
LEFT JOIN inputs i ON i.id = o.input_id
LEFT JOIN inputs r ON {accepted}
"""
_RUNS = accepted_runs("r")
# The rows of a table made before accepted runs, their columns empty.
_NO_RUNS = "(SELECT *, CAST(NULL AS INT) AS in_id, CAST(NULL AS INT) AS last_in_id FROM {})"


def _select(db: Writer) -> str:
    """The query of the journal's audit rows, as its version keeps them."""
    dialect = SQLITE if isinstance(db, sqlite3.Connection) else POSTGRESQL
    if relation_kind(db, "audit_log"):
        table = "audit_log"
        # Outputs that keep their (line, seq) key (gateway/journal.py, SCHEMA) are joined by it.
        run = (RUN_BY_KEY.format(last="COALESCE(a.last_seq, a.out_seq)") if outputs_keyed(db)
               else RUN_BY_ROWID.format(last_id="COALESCE(a.last_id, a.out_id)"))
    else:
        # No gateway since round 10 of issue 13 has opened it: one row an event in ``audit``.
        table = "audit"
        run = RUN_BY_KEY.format(last="a.out_seq")
    if "last_in_id" not in table_columns(db, table, dialect):
        # Nor since round 19: no accepted runs, their columns read empty.
        table = _NO_RUNS.format(table)
    return _QUERY.format(table=table, run=run, **_RUNS)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _stored_micros(text: object) -> int | None:
    """An ``at`` column as microseconds since 1970 UTC; None when it is no time."""
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
    journal: Location,
    *,
    line: str | None = None,
    event: str | None = None,
    since: datetime | None = None,
    limit: int = -1,
) -> list[AuditEntry]:
    """Audit records from a journal file or a shared database, oldest first; read-only, safe
    while serving.

    ``since`` (timezone-aware) keeps the records at or after that instant.
    """
    db = connect(journal, read_only=True)
    try:
        return list(islice(_entries(db, line, event, since, limit),
                           limit if limit >= 0 else None))
    finally:
        db.close()


def _entries(
    db: Writer, line: str | None, event: str | None, since: datetime | None,
    limit: int,
) -> Iterator[AuditEntry]:
    """The records the filters keep, read as they are needed."""
    where: list[str] = []
    values: list[object] = []
    if line is not None:
        where.append("a.line = ?")
        values.append(line)
    if event is not None:
        where.append("a.event = ?")
        values.append(event)
    sql = (_select(db) + (f"WHERE {' AND '.join(where)}\n" if where else "")
           + "ORDER BY a.id, o.seq, r.id")
    if since is None and limit >= 0:
        sql += f" LIMIT {int(limit)}"
    # The times are compared as instants here, the same on both databases: the stored text
    # cannot be compared as text (offsets differ, and isoformat() leaves out a zero fraction).
    least = None if since is None else _micros(since)
    for row in db.execute(sql, values):
        if least is not None:
            at = _stored_micros(row[0])
            if at is None or at < least:
                continue
        yield AuditEntry(*row)
