"""The journal: inputs before they are processed, outputs until acknowledged.

A narrow store, like QuickFIX/J's MessageStore: journaled inputs, numbered outputs, per-line
sequence state, acknowledgements and audit rows, and the one transaction the services' and
the bus's tables join. It does not render output text (the caller's ``render`` does) nor
decide which outputs cross the bus (gateway/outputs.py does).

It is a SQLite file (WAL) by default, or a PostgreSQL database several instances share
(``--store``, docs/scale-out.md). One process writes a SQLite journal, from the event loop
thread, so sequence counters live in memory and are written in the same transaction as the
rows that use them. ``synchronous=NORMAL`` in WAL mode survives a killed process (every commit
is in the WAL file); only a power loss can drop the last commits, which docs/reliability.md
describes. On PostgreSQL other instances write too: a transaction reads a line's counters
under a row lock (``SELECT ... FOR UPDATE`` on ``line_state``) before it bumps them, so a
line's numbers stay gap-free and in order whichever instance writes, and each input carries
the name of the instance that answers it (``inputs.instance``): an instance answers on
recovery its own unanswered inputs only, and those of a dead instance once it has claimed
them (:meth:`Journal.take_inputs`, gateway/bus/leases.py).
"""

import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from gateway.checkpoint import DEFAULT_INTERVAL, WAL_LIMIT, Checkpointer
from gateway.store import (
    DATABASE_ERRORS,
    Location,
    PostgresConnection,
    Transaction,
    Writer,
    begin,
    connect,
    create_schema,
    first_line,
    is_url,
    postgres_ddl,
    relation_kind,
)
from responders.base import POSTGRESQL, SQLITE, insert_rows, table_columns

# inputs.processed: 0 until the input's outputs are stored, then one of these. A failed input
# had an exchange aborted by a failing pipeline step (SPEC.md §11); like a processed one, it is
# never answered again. The values fit the column every journal file already has.
PROCESSED: Final = 1
FAILED: Final = 2
# The largest LIMIT both databases take.
_NO_LIMIT: Final = 2**63 - 1

# The audit trail (docs/reliability.md) is the view ``audit``, one row an event, over the table
# ``audit_log``: one row an input's event or a delivery, but a run of a line's consecutive
# outputs delivered at one moment is one row (``out_seq`` to ``last_seq``) whose destinations
# and keys the view reads from the outputs themselves. A batch's deliveries cost a row a line,
# not a row an output (6 % of an IAQ's instructions end to end before: docs/benchmarks.md).
#
# A SQLite journal's outputs are a rowid table without a (line, seq) key: each batch is appended
# where the last ended. A key in an index of its own, one leaf page a line, had each commit
# write a page a line of the batch into the WAL (docs/benchmarks.md, round 15); kept in
# (line, seq) order (WITHOUT ROWID) it was worse still. The journal numbers the rowids itself
# (one writer), so within a line they grow with the sequence number: a line's outputs after a
# number are found by scanning forward from ``line_state.scan_from``, a rowid below every
# output the line has not acknowledged, and a delivered run's audit row names its first and
# last rowids (``out_id``, ``last_id``). Journals made before keep their key (``keyed``), and so
# does a PostgreSQL journal, whose write-ahead log records the change, not the page.
#
# Likewise a line's consecutive inputs accepted at one moment are one row (their ids ``in_id`` to
# ``last_in_id``), whatever their ORIs and keys: those are not in a column of the inputs, so the
# row holds them side by side, each ORI in ORI_WIDTH characters and each key padded to
# MKE_WIDTH (both the grammar's longest, formats/message.py), in input order; the view gives
# each input its row, its number read from ``inputs``. An input alone keeps a row of its own.
_OUTPUTS = """
CREATE TABLE IF NOT EXISTS outputs (
    line TEXT NOT NULL,
    seq INTEGER NOT NULL,
    input_id INTEGER,
    created_at TEXT NOT NULL,
    mke TEXT NOT NULL,
    sender TEXT NOT NULL,
    dest TEXT NOT NULL,
    text TEXT NOT NULL{key}
);"""
_TABLES = """
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY,
    line TEXT NOT NULL,
    in_seq INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    text TEXT NOT NULL,
    bad TEXT,
    processed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inputs_unprocessed ON inputs (id) WHERE processed = 0;
{outputs}
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    line TEXT NOT NULL,
    ori TEXT,
    mke TEXT,
    in_seq INTEGER,
    out_seq INTEGER,
    outcome TEXT,
    last_seq INTEGER,
    out_id INTEGER,
    last_id INTEGER,
    in_id INTEGER,
    last_in_id INTEGER
);
CREATE VIEW IF NOT EXISTS audit AS
SELECT id, at, event, line, ori, mke, in_seq, out_seq, outcome
FROM audit_log WHERE last_seq IS NULL AND last_in_id IS NULL
UNION ALL
SELECT a.id, a.at, a.event, a.line, o.dest, o.mke, NULL, o.seq, a.outcome
FROM audit_log a {join} outputs o ON {run}
WHERE a.last_seq IS NOT NULL
UNION ALL
SELECT a.id, a.at, a.event, a.line, {run_ori}, {run_mke}, i.in_seq, NULL, a.outcome
FROM audit_log a {join} inputs i ON {accepted}
WHERE a.last_in_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS line_state (
    line TEXT PRIMARY KEY,
    last_in INTEGER NOT NULL DEFAULT 0,
    last_out INTEGER NOT NULL DEFAULT 0,
    last_ack INTEGER NOT NULL DEFAULT 0,
    scan_from INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""
# The outputs of a delivered run (audit row ``a``) in outputs ``o``: by key, or by rowid (the
# unary + keeps SQLite from building an index on the line instead, for every query).
RUN_BY_KEY: Final = "o.line = a.line AND o.seq BETWEEN a.out_seq AND {last}"
RUN_BY_ROWID: Final = "o.rowid BETWEEN a.out_id AND {last_id} AND +o.line = a.line"
ORI_WIDTH: Final = 9
MKE_WIDTH: Final = 3


def accepted_runs(inputs: str) -> dict[str, str]:
    """The SQL that expands an accepted run (audit row ``a``) joined to ``inputs`` by that
    alias: the join (``accepted``) and each input's ORI and key (``run_ori``, ``run_mke``),
    cut from the row's (INT, not INTEGER, which a PostgreSQL schema turns into BIGINT, an
    argument substr refuses)."""
    offset = f"({inputs}.id - a.in_id)"
    return {
        "accepted": f"{inputs}.id BETWEEN a.in_id AND a.last_in_id",
        "run_ori": f"substr(a.ori, CAST({ORI_WIDTH} * {offset} AS INT) + 1, {ORI_WIDTH})",
        "run_mke": f"rtrim(substr(a.mke, CAST({MKE_WIDTH} * {offset} AS INT) + 1, {MKE_WIDTH}))",
    }


# A SQLite journal made now (its view reads the audit rows first: SQLite's CROSS JOIN keeps
# that order, where it would scan the outputs first), and a PostgreSQL one.
_RUNS: Final = accepted_runs("i")
SCHEMA: Final = _TABLES.format(
    outputs=_OUTPUTS.format(key=""), join="CROSS JOIN",
    run=RUN_BY_ROWID.format(last_id="a.last_id"), **_RUNS)
KEYED_SCHEMA: Final = _TABLES.format(
    outputs=_OUTPUTS.format(key=",\n    PRIMARY KEY (line, seq)"), join="JOIN",
    run=RUN_BY_KEY.format(last="a.last_seq"), **_RUNS)
# Columns a journal of an earlier version lacks: (table, column).
_ADDED_COLUMNS: Final = (
    ("audit_log", "last_seq INTEGER"),
    ("audit_log", "out_id INTEGER"),
    ("audit_log", "last_id INTEGER"),
    ("audit_log", "in_id INTEGER"),
    ("audit_log", "last_in_id INTEGER"),
    ("line_state", "scan_from INTEGER NOT NULL DEFAULT 0"),
)
# A shared journal's inputs name the instance that answers them (see Journal.take_inputs).
_SHARED_SCHEMA: Final = "ALTER TABLE inputs ADD COLUMN IF NOT EXISTS instance TEXT;"


# The four records below are not frozen, like formats.iaq.IAQ: each is built per input or
# output on the hot path, where a frozen dataclass's field-by-field object.__setattr__ costs
# 2 us a record. Nothing mutates them.
@dataclass(slots=True)
class JournaledInput:
    """An input as the journal holds it; ``bad`` names a framing fault (ER 0) when set."""

    id: int
    line: str
    in_seq: int
    received_at: datetime
    text: str
    bad: str | None = None


@dataclass(slots=True)
class PendingOutput:
    """An output to store. The journal numbers it in place when it stores it (``seq``, the
    ``text`` in its line's format, ``id``): delivery reads it as it is, a
    :class:`NumberedOutput`, with no second object made an output."""

    line: str
    input_id: int | None
    mke: str
    sender: str
    dest: str
    control: str | None
    body: str
    in_time: datetime
    in_seq: int
    out_time: datetime
    seq: int = 0
    text: str = ""
    # Its rowid in a journal without the outputs' key (see SCHEMA); None in one with it.
    id: int | None = None


# The text of an output given the number the journal gave it (gateway/outputs.py).
Render = Callable[[PendingOutput, int], str]


class NumberedOutput(Protocol):
    """An output numbered for its line, as delivery reads it: one the journal has just
    stored (a :class:`PendingOutput`) or one read back (a :class:`StoredOutput`)."""

    @property
    def line(self) -> str:
        """The line it goes to."""
        ...

    @property
    def seq(self) -> int:
        """Its sequence number on the line."""
        ...

    @property
    def text(self) -> str:
        """The exact text delivered."""
        ...

    @property
    def mke(self) -> str:
        """Its message key."""
        ...

    @property
    def dest(self) -> str:
        """Its destination ORI or line."""
        ...

    @property
    def in_time(self) -> datetime | None:
        """When the input it answers arrived (None: read back from the journal)."""
        ...

    @property
    def id(self) -> int | None:
        """Its rowid in a journal without the outputs' key, else None."""
        ...


@dataclass(slots=True)
class StoredOutput:
    """An output read back from the journal: its per-line sequence number and the exact
    text delivered."""

    line: str
    seq: int
    text: str
    mke: str
    dest: str
    in_time: datetime | None = None
    # Its rowid in a journal without the outputs' key (see SCHEMA); None in one with it.
    id: int | None = None


@dataclass(slots=True)
class AuditRecord:
    """One CJIS audit row: an input accepted, rejected or failed, or an output delivered.

    Inputs carry their line, sender ORI, MKE and input sequence number; deliveries the
    destination line, destination, MKE and output sequence number. ``outcome`` holds the ER
    number and detail of a rejection; for a failure the destination and the exception
    (``AX KeyError: 'X'``); for a delivery ``live`` (sent as it was stored) or ``signon`` (sent
    from the store at sign-on: held while the line was down, or unacknowledged).
    """

    at: datetime
    event: str
    line: str
    ori: str | None
    mke: str | None
    in_seq: int | None = None
    # An accepted input's id: consecutive ones share a row (see SCHEMA).
    in_id: int | None = None
    out_seq: int | None = None
    outcome: str | None = None
    # A delivery of consecutive outputs: the last one's number (see delivery_records).
    last_seq: int | None = None
    # A delivery's first and last outputs' rowids (a journal without their key: see SCHEMA).
    out_id: int | None = None
    last_id: int | None = None


def delivery_records(
    at: datetime, line: str, outputs: Sequence[NumberedOutput], outcome: str
) -> list[AuditRecord]:
    """The audit records of outputs delivered to ``line`` at one moment, in sequence order:
    one a run of consecutive numbers (see SCHEMA), an output alone keeping its destination
    and key."""
    records = []
    first = 0
    for i in range(1, len(outputs) + 1):
        if i < len(outputs) and outputs[i].seq == outputs[i - 1].seq + 1:
            continue
        head = outputs[first]
        records.append(
            AuditRecord(at, "delivered", line, head.dest, head.mke, None, None, head.seq,
                        outcome, None, head.id)
            if i - first == 1
            else AuditRecord(at, "delivered", line, None, None, None, None, head.seq, outcome,
                             outputs[i - 1].seq, head.id, outputs[i - 1].id)
        )
        first = i
    return records


def _accepted_rows(at: str, run: Sequence[AuditRecord]) -> list[tuple[object, ...]]:
    """The audit row of consecutive accepted inputs (see SCHEMA): their ORIs and keys side by
    side, which the grammar makes fit; an input alone, or one that does not fit, has its own."""
    if len(run) > 1:
        for r in run:
            if r.ori is None or len(r.ori) != ORI_WIDTH or r.mke is None or len(r.mke) > MKE_WIDTH:
                break
        else:
            first = run[0]
            return [(at, first.event, first.line, "".join([r.ori or "" for r in run]),
                     "".join([(r.mke or "").ljust(MKE_WIDTH) for r in run]), first.in_seq, None,
                     None, None, None, None, first.in_id, run[-1].in_id)]
    return [(at, r.event, r.line, r.ori, r.mke, r.in_seq, None, None, None, None, None, r.in_id,
             None) for r in run]


def _upgrade(db: Writer) -> None:
    """Move a journal of an earlier version to this one's tables: audit rows in the table
    ``audit`` to ``audit_log`` (renamed, no row copied), where the view takes its name, and
    the columns added since (no row rewritten: they start empty, or 0). A view made before
    accepted runs is dropped, to be made again by the schema."""
    if relation_kind(db, "audit") == "table":
        db.execute("ALTER TABLE audit RENAME TO audit_log")
    sqlite = isinstance(db, sqlite3.Connection)
    # Each table's columns, read once, before any is added.
    present = {table: table_columns(db, table, SQLITE if sqlite else POSTGRESQL)
               for table in dict.fromkeys(table for table, _ in _ADDED_COLUMNS)}
    logged = present["audit_log"]
    if logged and "last_in_id" not in logged and relation_kind(db, "audit") == "view":
        db.execute("DROP VIEW audit")
    for table, column in _ADDED_COLUMNS:
        if present[table] and column.split()[0] not in present[table]:
            ddl = f"ALTER TABLE {table} ADD COLUMN {column}"
            db.execute(ddl if sqlite else postgres_ddl(ddl))


def outputs_keyed(db: Writer) -> bool:
    """Whether the journal's outputs keep a (line, seq) key: PostgreSQL's, and those of SQLite
    journals made before round 15 of issue 13 (see SCHEMA)."""
    if not isinstance(db, sqlite3.Connection):
        return True
    row = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outputs'").fetchone()
    return row is not None and "PRIMARY KEY" in row[0]


@dataclass(slots=True)
class _LineCounters:
    last_in: int = 0
    last_out: int = 0
    last_ack: int = 0
    # A rowid at or below every output numbered after last_ack (a journal without the
    # outputs' key: see SCHEMA).
    scan_from: int = 0


class Journal:
    """Durable inputs, outputs and per-line sequence state."""

    def __init__(
        self, path: Location, instance: str = "", on_lost: Callable[[str], None] | None = None
    ) -> None:
        # Other instances write a shared (PostgreSQL) journal too: see _lock.
        self._shared = is_url(path)
        self._instance = instance
        # Told (with the database's reason) when the shared database's connection is gone.
        self._on_lost = on_lost
        # A shared journal's inputs name this instance (see take_inputs).
        self._owner: tuple[str, ...] = (instance,) if self._shared else ()
        self._insert_input = (
            "INSERT INTO inputs (id, line, in_seq, received_at, text, bad"
            + (", instance)" if self._shared else ")")
        )
        if not self._shared:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(path)
        self._path = path
        self._checkpointer: Checkpointer | None = None
        if isinstance(self._db, sqlite3.Connection):
            self._db.execute("PRAGMA synchronous=NORMAL")
        create_schema(self._db, KEYED_SCHEMA + _SHARED_SCHEMA if self._shared else SCHEMA,
                      upgrade=_upgrade)
        self._keyed = outputs_keyed(self._db)
        self._insert_output = (
            "INSERT INTO outputs (line, seq, input_id, created_at, mke, sender, dest, text)"
            if self._keyed else
            "INSERT INTO outputs (rowid, line, seq, input_id, created_at, mke, sender, dest,"
            " text)"
        )
        self._lines = self._read_counters()
        self._dirty: set[str] = set()
        # The last input id and output rowid given on a SQLite journal, whose one writer is
        # this process: read from the table for the first and again after a rollback (see
        # _input_ids, _next_rowid).
        self._last_input: int | None = None
        self._last_output: int | None = None
        # Where each line's last read of outputs ended, (seq, rowid): the next page of a
        # backlog is scanned from there (see outputs_after).
        self._read_to: dict[str, tuple[int, int]] = {}
        # Delivery records wait for the next commit, like acknowledgements (see note_delivered).
        self._audit_pending: list[AuditRecord] = []
        # The open transaction (one writer, on the event loop thread).
        self._tx: Transaction | None = None
        # Lines whose line_state row the open transaction holds locked (shared journal).
        self._locked: set[str] = set()

    def checkpoint_apart(
        self, log: Any, interval: float = DEFAULT_INTERVAL, wal_limit: int = WAL_LIMIT
    ) -> Checkpointer | None:
        """From now on, checkpoint a SQLite journal's WAL on a thread of its own instead of in
        the commits of the event loop (gateway/checkpoint.py); :meth:`close` stops it. Returns
        the checkpointer (None: a shared journal, which its database checkpoints)."""
        if isinstance(self._db, sqlite3.Connection) and self._checkpointer is None:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            # A WAL started again is cut back to this size: the disk it takes stays bounded.
            self._db.execute(f"PRAGMA journal_size_limit={int(wal_limit)}")
            self._checkpointer = Checkpointer(Path(self._path), log, interval, wal_limit).start()
        return self._checkpointer

    def close(self) -> None:
        """Write pending acknowledgements and close the database."""
        self.flush()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._db.close()

    def transaction(self) -> AbstractContextManager[Transaction]:
        """One transaction for what the block writes: services' effects and the journal's rows.

        Inside an open transaction it joins it: only the outermost block commits, and an
        exception anywhere rolls back everything.
        """
        return _Block(self)

    def _begin(self) -> Transaction:
        """Open the transaction of an outermost block."""
        if self._shared:
            with self._watch():
                begin(self._db)
        else:
            # A file journal's connection cannot be lost: nothing to watch (the watch, a
            # generator's context manager, cost 9,000 instructions a transaction).
            begin(self._db)
        self._tx = Transaction(self._db)
        return self._tx

    def _end(self, failure: BaseException | None) -> None:
        """Commit the outermost block's transaction, or roll it back after ``failure`` (or a
        failed commit), which is raised again."""
        try:
            if failure is not None:
                raise failure
            if self._shared:
                self._lock(self._dirty)
            self._flush_counters()
            self._write_audit(self._audit_pending)
            self._db.execute("COMMIT")
        except BaseException as exc:
            # A connection that is gone has nothing to roll back (the server did).
            self._check_lost(exc)
            self._db.execute("ROLLBACK")
            self._reload_counters()
            raise
        finally:
            self._tx = None
            self._locked.clear()
        self._audit_pending.clear()
        checkpointer = self._checkpointer
        if checkpointer is not None and checkpointer.restart_due():
            # The WAL past its limit (gateway/checkpoint.py). While the thread's checkpoint
            # runs, the RESTART answers busy at once, and the next commit tries again.
            with suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()

    def _check_lost(self, exc: BaseException) -> None:
        """Tell ``on_lost`` and raise ``exc`` again when the shared database's connection is
        gone; otherwise return."""
        if isinstance(self._db, PostgresConnection) and self._db.lost(exc):
            if self._on_lost is not None:
                self._on_lost(first_line(exc))
            raise exc

    @contextmanager
    def _watch(self) -> Iterator[None]:
        """Tell ``on_lost`` when a statement of the block finds the connection gone."""
        try:
            yield
        except DATABASE_ERRORS as exc:
            self._check_lost(exc)
            raise

    def ping(self) -> None:
        """Make sure a shared database's connection still stands (a lost one is told to
        ``on_lost``, and raises)."""
        if self._shared:
            with self._watch():
                self._db.execute("SELECT 1")

    def schema(self, ddl: str) -> None:
        """Create a service's or the bus's tables in the journal's database (``CREATE ... IF
        NOT EXISTS``)."""
        create_schema(self._db, ddl)

    def _lock(self, lines: Iterable[str]) -> None:
        """On a shared journal, lock the lines' counters for the open transaction and read
        them as committed: another instance may have numbered since.

        Rows are locked in line order, so two transactions never wait on each other in a
        circle. An acknowledgement not written yet is kept (acknowledgements only grow).
        """
        wanted = sorted(set(lines) - self._locked)
        if not wanted:
            return
        self._db.executemany(
            "INSERT INTO line_state (line) VALUES (?) ON CONFLICT DO NOTHING",
            [(line,) for line in wanted],
        )
        rows = self._db.execute(
            "SELECT line, last_in, last_out, last_ack FROM line_state WHERE line = ANY(?)"
            " ORDER BY line FOR UPDATE",
            (wanted,),
        )
        self._merge(rows)
        self._locked.update(wanted)

    def _merge(self, rows: Iterable[tuple[str, int, int, int]]) -> None:
        """Take committed counters over those in memory, but for acknowledgements not written
        yet (they only grow)."""
        for line, last_in, last_out, last_ack in rows:
            counters = self._lines.setdefault(line, _LineCounters())
            counters.last_in, counters.last_out = last_in, last_out
            counters.last_ack = min(max(last_ack, counters.last_ack), last_out)

    def _write_audit(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            # Most commits carry none (inputs journaled, acknowledgements alone).
            return
        rows: list[tuple[object, ...]] = []
        # Records of a batch share their moment (one object): its text is written once. The
        # row is built here, in column order, rather than by a method of the record: the
        # call cost a third of a microsecond a row.
        at: datetime | None = None
        text = ""
        # Consecutive accepted inputs of a line at one moment, one row when the run ends
        # (see SCHEMA), and the id that goes on with it. Only an accepted input's record
        # carries its id.
        run: list[AuditRecord] = []
        follows = 0
        for r in records:
            if run:
                if r.in_id == follows and r.at is at and r.line == run[0].line:
                    run.append(r)
                    follows += 1
                    continue
                rows.extend(_accepted_rows(text, run))
                run = []
            if r.at is not at:
                at = r.at
                text = at.isoformat()
            if r.in_id is not None:
                run = [r]
                follows = r.in_id + 1
                continue
            rows.append((text, r.event, r.line, r.ori, r.mke, r.in_seq, r.out_seq, r.outcome,
                         r.last_seq, r.out_id, r.last_id, None, None))
        if run:
            rows.extend(_accepted_rows(text, run))
        self._db.executemany(
            "INSERT INTO audit_log (at, event, line, ori, mke, in_seq, out_seq, outcome,"
            " last_seq, out_id, last_id, in_id, last_in_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _counters(self, line: str) -> _LineCounters:
        if self._shared and self._tx is not None:
            self._lock((line,))
        counters = self._lines.get(line)
        if counters is None:
            counters = self._lines[line] = _LineCounters()
        self._dirty.add(line)
        return counters

    def _flush_counters(self) -> None:
        if not self._dirty:
            return
        self._db.executemany(
            "INSERT INTO line_state (line, last_in, last_out, last_ack, scan_from)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (line) DO UPDATE SET"
            " last_in = excluded.last_in, last_out = excluded.last_out,"
            " last_ack = excluded.last_ack, scan_from = excluded.scan_from",
            [
                (line, c.last_in, c.last_out, c.last_ack, c.scan_from)
                for line in self._dirty
                for c in (self._lines[line],)
            ],
        )
        self._dirty.clear()

    def refresh(self, lines: Iterable[str]) -> None:
        """Read the lines' counters as committed (a shared journal: another instance was
        their home), keeping acknowledgements not written yet."""
        wanted = list(lines)
        if not self._shared or not wanted:
            return
        self._merge(self._db.execute(
            "SELECT line, last_in, last_out, last_ack FROM line_state WHERE line = ANY(?)",
            (wanted,),
        ))

    def _read_counters(self) -> dict[str, _LineCounters]:
        return {
            line: _LineCounters(*counters)
            for line, *counters in self._db.execute(
                "SELECT line, last_in, last_out, last_ack, scan_from FROM line_state"
            )
        }

    def _reload_counters(self) -> None:
        """Read the counters as committed after a rollback, but for acknowledgements not
        written yet, kept like the delivery records waiting with them: they acknowledge
        outputs committed before (no other was delivered), which the rollback did not undo."""
        acked = {line: counters.last_ack for line, counters in self._lines.items()}
        self._dirty.clear()
        self._last_input = None
        self._last_output = None
        self._read_to.clear()
        self._lines = self._read_counters()
        for line, last_ack in acked.items():
            counters = self._lines.get(line)
            if counters is not None and last_ack > counters.last_ack:
                counters.last_ack = min(last_ack, counters.last_out)
                self._dirty.add(line)

    def record_lines(
        self,
        received_at: datetime,
        batch: Sequence[tuple[str, Iterable[tuple[str, str | None]]]],
    ) -> list[JournaledInput]:
        """Journal the inputs of one or more lines, (line, (text, framing fault) pairs), in
        one transaction: each line's numbered in the order given."""
        stamp = received_at.isoformat()
        rows = []
        with self.transaction():
            if self._shared:
                # Every line's counters at once, in line order (see _lock).
                self._lock({line for line, _ in batch})
            for line, texts in batch:
                counters = self._counters(line)
                for text, bad in texts:
                    counters.last_in += 1
                    rows.append((line, counters.last_in, stamp, text, bad))
            if not rows:
                return []
            ids = self._input_ids(len(rows))
            insert_rows(
                self._db,
                self._insert_input,
                [(ident, *row, *self._owner) for ident, row in zip(ids, rows, strict=True)],
            )
        return [
            JournaledInput(ident, row[0], row[1], received_at, row[3], row[4])
            for ident, row in zip(ids, rows, strict=True)
        ]

    def _input_ids(self, count: int) -> list[int]:
        """Ids for new inputs: the next after the largest (one writer, so kept in memory
        after the first), or, on a shared journal, from the column's sequence, which no two
        instances draw alike."""
        if self._shared:
            return [
                int(ident)
                for (ident,) in self._db.execute(
                    "SELECT nextval(pg_get_serial_sequence('inputs', 'id'))"
                    " FROM generate_series(1, ?)",
                    (count,),
                )
            ]
        first = self._last_input
        if first is None:
            first = int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM inputs").fetchone()[0])
        self._last_input = first + count
        return list(range(first + 1, first + 1 + count))

    def acknowledge(self, line: str, seq: int) -> int:
        """Apply a cumulative acknowledgement; returns the line's last acknowledged number.

        It is written with the next transaction or :meth:`flush`, not on its own, so that the
        acknowledgements of many lines share one commit; one lost in a crash only means the
        output is sent again, which at-least-once delivery allows.
        """
        counters = self._counters(line)
        counters.last_ack = min(max(counters.last_ack, seq), counters.last_out)
        if counters.last_ack == counters.last_out and not self._keyed:
            # Everything acknowledged: the line's next output is the next rowid, or after.
            counters.scan_from = self._next_rowid()
        return counters.last_ack

    def _next_rowid(self) -> int:
        """The rowid of the next output stored (a journal without the outputs' key)."""
        if self._last_output is None:
            self._last_output = int(
                self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM outputs").fetchone()[0])
        return self._last_output + 1

    def note_delivered(self, records: Iterable[AuditRecord]) -> None:
        """Keep delivery audit records for the next commit (:meth:`flush` or a transaction).

        A crash can lose them only together with any acknowledgement that came after them,
        so such an output is unacknowledged, sent again after restart and recorded then.
        """
        self._audit_pending.extend(records)

    def flush(self) -> None:
        """Write acknowledgements and delivery records that no transaction has carried yet."""
        if self._dirty or self._audit_pending:
            with self.transaction():
                pass

    def store_outputs(
        self,
        input_ids: Iterable[int],
        outputs: Sequence[PendingOutput],
        render: Render,
        audit: Sequence[AuditRecord] = (),
        failed: Collection[int] = (),
    ) -> list[NumberedOutput]:
        """Number and store outputs, mark inputs processed, write audit: one transaction.

        ``render`` gives the text of an output with the number the journal gave it. Inside
        :meth:`transaction` it is part of that one, with what else the block writes (a
        service's effects, the bus's outbox). Inputs in ``failed`` are marked failed rather
        than processed. The outputs come back numbered (see :class:`PendingOutput`).
        """
        with self.transaction():
            if self._shared:
                # Every line of the batch at once, in line order (see _lock).
                self._lock(out.line for out in outputs)
            self._write_audit(audit)
            rows = []
            # The outputs of a batch share one clock reading: its text is written once.
            created: tuple[datetime | None, str] = (None, "")
            # The rowid of the output stored last (None: the journal keeps the outputs' key).
            rowid = None if self._keyed else self._next_rowid() - 1
            # An input's outputs go to one line most often: its counters are looked up once.
            line: str | None = None
            counters = _LineCounters()
            for out in outputs:
                if out.line != line:
                    line = out.line
                    counters = self._counters(line)
                counters.last_out += 1
                seq = counters.last_out
                text = render(out, seq)
                if created[0] is not out.out_time:
                    created = (out.out_time, out.out_time.isoformat())
                if rowid is not None:
                    rowid += 1
                rows.append((rowid, out.line, seq, out.input_id, created[1], out.mke,
                             out.sender, out.dest, text))
                out.seq = seq
                out.text = text
                out.id = rowid
            if rowid is None:
                insert_rows(self._db, self._insert_output, [row[1:] for row in rows])
            else:
                insert_rows(self._db, self._insert_output, rows)
                self._last_output = rowid
            self._mark_processed(list(input_ids), failed)
        return list(outputs)

    def _mark_processed(self, ids: list[int], failed: Collection[int]) -> None:
        """Mark inputs processed, those in ``failed`` failed. A batch's ids are consecutive
        (journaled together): one range UPDATE marks them all, where an UPDATE an id cost
        about a microsecond more each; the failed ones are marked again after it."""
        if len(ids) > 1 and ids == list(range(ids[0], ids[0] + len(ids))):
            self._db.execute(
                "UPDATE inputs SET processed = ? WHERE id BETWEEN ? AND ?",
                (PROCESSED, ids[0], ids[-1]),
            )
            marks = [(FAILED, i) for i in ids if i in failed] if failed else []
        else:
            marks = [(FAILED if i in failed else PROCESSED, i) for i in ids]
        if marks:
            self._db.executemany("UPDATE inputs SET processed = ? WHERE id = ?", marks)

    def last_ack(self, line: str) -> int:
        """The last output sequence number the line acknowledged."""
        counters = self._lines.get(line)
        return counters.last_ack if counters else 0

    def last_out(self, line: str) -> int:
        """The last output sequence number issued to the line."""
        counters = self._lines.get(line)
        return counters.last_out if counters else 0

    def outputs_after(self, line: str, seq: int, limit: int = -1) -> list[StoredOutput]:
        """Outputs to the line numbered after ``seq``, in sequence order.

        ``limit`` pages through a long backlog (-1: all of them).
        """
        # PostgreSQL refuses a negative LIMIT (and SQLite a NULL one).
        limit_or_all = limit if limit >= 0 else _NO_LIMIT
        if self._keyed:
            return [
                StoredOutput(line, number, text, mke, dest)
                for number, text, mke, dest in self._db.execute(
                    "SELECT seq, text, mke, dest FROM outputs WHERE line = ? AND seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (line, seq, limit_or_all),
                )
            ]
        # Without the key, scanned forward from a rowid below the first wanted (see SCHEMA):
        # the line's scan_from (asked from its acknowledgement or after), or where its last
        # read ended when this one goes on from there.
        counters = self._lines.get(line)
        start = counters.scan_from if counters is not None and seq >= counters.last_ack else 0
        read_to = self._read_to.get(line)
        if read_to is not None and seq >= read_to[0]:
            start = max(start, read_to[1] + 1)
        rows = self._db.execute(
            "SELECT rowid, seq, text, mke, dest FROM outputs"
            " WHERE rowid >= ? AND line = ? AND seq > ? ORDER BY rowid LIMIT ?",
            (start, line, seq, limit_or_all),
        ).fetchall()
        if rows:
            self._read_to[line] = (rows[-1][1], rows[-1][0])
            if (counters is not None and seq == counters.last_ack
                    and rows[0][0] > counters.scan_from):
                # The first output not acknowledged: later scans of the line start there.
                counters.scan_from = rows[0][0]
                self._dirty.add(line)
        return [StoredOutput(line, number, text, mke, dest, None, rowid)
                for rowid, number, text, mke, dest in rows]

    def unprocessed_inputs(self) -> list[JournaledInput]:
        """Inputs journaled whose outputs were never stored (a crash in between); on a shared
        journal, this instance's only."""
        # A literal, as in the partial index, so the index serves this query.
        sql = "SELECT id, line, in_seq, received_at, text, bad FROM inputs WHERE processed = 0"
        rows = (
            self._db.execute(f"{sql} AND instance = ? ORDER BY id", (self._instance,))
            if self._shared
            else self._db.execute(f"{sql} ORDER BY id")
        )
        return [
            JournaledInput(row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4], row[5])
            for row in rows
        ]

    def take_inputs(self, instances: Collection[str]) -> int:
        """Make the unanswered inputs of ``instances`` (dead ones this instance claimed) this
        instance's, in the open transaction (or one of its own); how many it took."""
        if not self._shared or not instances:
            return 0
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE inputs SET instance = ? WHERE processed = 0 AND instance = ANY(?)",
                (self._instance, list(instances)),
            )
        return max(cursor.rowcount, 0)


class _Block:
    """A block of :meth:`Journal.transaction`: the outermost opens and ends the transaction,
    the others join it. A class rather than a generator's context manager, which cost some
    4,000 instructions more a use: a batch of one IAQ opens two transactions."""

    __slots__ = ("_journal", "_outermost")

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._outermost = False

    def __enter__(self) -> Transaction:
        tx = self._journal._tx
        if tx is not None:
            return tx
        self._outermost = True
        return self._journal._begin()

    def __exit__(
        self, kind: type[BaseException] | None, failure: BaseException | None, trace: object
    ) -> None:
        if self._outermost:
            self._journal._end(failure)
