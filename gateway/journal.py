"""The SQLite (WAL) journal: inputs before they are processed, outputs until acknowledged.

One process writes it, from the event loop thread, so sequence counters live in memory and are
written in the same transaction as the rows that use them. ``synchronous=NORMAL`` in WAL mode
survives a killed process (every commit is in the WAL file); only a power loss can drop the
last commits, which docs/reliability.md describes.
"""

import sqlite3
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from formats.output import OutputMessage, format_output
from gateway.store import Transaction

# inputs.processed: 0 until the input's outputs are stored, then one of these. A failed input
# had an exchange aborted by a failing pipeline step (SPEC.md §11); like a processed one, it is
# never answered again. The values fit the column every journal file already has.
PROCESSED: Final = 1
FAILED: Final = 2

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS outputs (
    line TEXT NOT NULL,
    seq INTEGER NOT NULL,
    input_id INTEGER,
    created_at TEXT NOT NULL,
    mke TEXT NOT NULL,
    sender TEXT NOT NULL,
    dest TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (line, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    line TEXT NOT NULL,
    ori TEXT,
    mke TEXT,
    in_seq INTEGER,
    out_seq INTEGER,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS line_state (
    line TEXT PRIMARY KEY,
    last_in INTEGER NOT NULL DEFAULT 0,
    last_out INTEGER NOT NULL DEFAULT 0,
    last_ack INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""


# What the MQTT bus keeps (docs/scale-out.md): outputs for lines whose home is another instance,
# waiting to cross the broker; every envelope taken from another journal, so a redelivered one
# is not numbered twice; how far each line's outputs were published to MQTT.
BUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    line TEXT NOT NULL,
    input_id INTEGER,
    mke TEXT NOT NULL,
    sender TEXT NOT NULL,
    dest TEXT NOT NULL,
    control TEXT,
    body TEXT NOT NULL,
    in_time TEXT NOT NULL,
    in_seq INTEGER NOT NULL,
    out_time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bus_seen (
    origin TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (origin, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_published (
    line TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_origin (origin TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class JournaledInput:
    """An input as the journal holds it; ``bad`` names a framing fault (ER 0) when set."""

    id: int
    line: str
    in_seq: int
    received_at: datetime
    text: str
    bad: str | None = None


@dataclass(frozen=True, slots=True)
class PendingOutput:
    """An output to store: everything but its sequence number, which the journal assigns."""

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


@dataclass(frozen=True, slots=True)
class StoredOutput:
    """An output with its per-line sequence number and the exact text delivered."""

    line: str
    seq: int
    text: str
    mke: str
    dest: str
    in_time: datetime | None = None


@dataclass(frozen=True, slots=True)
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
    out_seq: int | None = None
    outcome: str | None = None

    def row(self) -> tuple[object, ...]:
        """The values of an ``audit`` row, in column order."""
        return (
            self.at.isoformat(), self.event, self.line, self.ori, self.mke,
            self.in_seq, self.out_seq, self.outcome,
        )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An output waiting in the outbox to cross the broker to its line's home."""

    id: int
    output: PendingOutput


def _never(line: str) -> bool:
    return False


def _nothing() -> None:
    return None


@dataclass(slots=True)
class _LineCounters:
    last_in: int = 0
    last_out: int = 0
    last_ack: int = 0


class Journal:
    """Durable inputs, outputs and per-line sequence state."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.executescript(BUS_SCHEMA)
        self._lines: dict[str, _LineCounters] = {
            line: _LineCounters(last_in, last_out, last_ack)
            for line, last_in, last_out, last_ack in self._db.execute(
                "SELECT line, last_in, last_out, last_ack FROM line_state"
            )
        }
        self._dirty: set[str] = set()
        # Delivery records wait for the next commit, like acknowledgements (see note_delivered).
        self._audit_pending: list[AuditRecord] = []
        # The open transaction (one writer, on the event loop thread), and whether the outbox
        # got entries in it.
        self._tx: Transaction | None = None
        self._outbox_added = False
        # Set by the MQTT bus: lines whose home is another instance, and a wake-up for the
        # outbox; with the in-process bus every line is numbered here.
        self.remote: Callable[[str], bool] = _never
        self.on_outbox: Callable[[], None] = _nothing

    def close(self) -> None:
        """Write pending acknowledgements and close the database."""
        self.flush()
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction for what the block writes: services' effects and the journal's rows.

        Inside an open transaction it joins it: only the outermost block commits, and an
        exception anywhere rolls back everything.
        """
        if self._tx is not None:
            yield self._tx
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._tx = Transaction(self._db)
        try:
            yield self._tx
            self._flush_counters()
            self._write_audit(self._audit_pending)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._reload_counters()
            self._outbox_added = False
            raise
        finally:
            self._tx = None
        self._audit_pending.clear()
        if self._outbox_added:
            self._outbox_added = False
            self.on_outbox()

    def schema(self, ddl: str) -> None:
        """Create a service's tables in the journal file (``CREATE ... IF NOT EXISTS``)."""
        self._db.executescript(ddl)

    def _write_audit(self, records: Iterable[AuditRecord]) -> None:
        self._db.executemany(
            "INSERT INTO audit (at, event, line, ori, mke, in_seq, out_seq, outcome)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [record.row() for record in records],
        )

    def _counters(self, line: str) -> _LineCounters:
        counters = self._lines.get(line)
        if counters is None:
            counters = self._lines[line] = _LineCounters()
        self._dirty.add(line)
        return counters

    def _flush_counters(self) -> None:
        if not self._dirty:
            return
        self._db.executemany(
            "INSERT INTO line_state (line, last_in, last_out, last_ack) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (line) DO UPDATE SET last_in = excluded.last_in,"
            " last_out = excluded.last_out, last_ack = excluded.last_ack",
            [
                (line, c.last_in, c.last_out, c.last_ack)
                for line in self._dirty
                for c in (self._lines[line],)
            ],
        )
        self._dirty.clear()

    def _reload_counters(self) -> None:
        self._dirty.clear()
        self._lines = {
            line: _LineCounters(last_in, last_out, last_ack)
            for line, last_in, last_out, last_ack in self._db.execute(
                "SELECT line, last_in, last_out, last_ack FROM line_state"
            )
        }

    def record_inputs(
        self, line: str, received_at: datetime, texts: Iterable[tuple[str, str | None]]
    ) -> list[JournaledInput]:
        """Journal inputs from one line: (text, framing fault) pairs."""
        stamp = received_at.isoformat()
        journaled: list[JournaledInput] = []
        with self.transaction():
            counters = self._counters(line)
            rows = []
            for text, bad in texts:
                counters.last_in += 1
                rows.append((line, counters.last_in, stamp, text, bad))
            if rows:
                cursor = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM inputs")
                first_id = int(cursor.fetchone()[0]) + 1
                self._db.executemany(
                    "INSERT INTO inputs (line, in_seq, received_at, text, bad)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                journaled = [
                    JournaledInput(first_id + i, line, row[1], received_at, row[3], row[4])
                    for i, row in enumerate(rows)
                ]
        return journaled

    def acknowledge(self, line: str, seq: int) -> int:
        """Apply a cumulative acknowledgement; returns the line's last acknowledged number.

        It is written with the next transaction or :meth:`flush`, not on its own, so that the
        acknowledgements of many lines share one commit; one lost in a crash only means the
        output is sent again, which at-least-once delivery allows.
        """
        counters = self._counters(line)
        counters.last_ack = min(max(counters.last_ack, seq), counters.last_out)
        return counters.last_ack

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
        outputs: Iterable[PendingOutput],
        audit: Iterable[AuditRecord] = (),
        failed: Collection[int] = (),
    ) -> list[StoredOutput]:
        """Number, render and store outputs, mark inputs processed, write audit: one transaction.

        Inside :meth:`transaction` it is part of that one, with what else the block writes (a
        service's effects). Inputs in ``failed`` are marked failed rather than processed.
        """
        stored: list[StoredOutput] = []
        with self.transaction():
            self._write_audit(audit)
            rows = []
            outbox = []
            for out in outputs:
                if self.remote(out.line):
                    outbox.append(out)
                    continue
                row, output = self._number(out)
                rows.append(row)
                stored.append(output)
            self._db.executemany(
                "INSERT INTO outputs (line, seq, input_id, created_at, mke, sender, dest, text)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._write_outbox(outbox)
            self._db.executemany(
                "UPDATE inputs SET processed = ? WHERE id = ?",
                [(FAILED if i in failed else PROCESSED, i) for i in input_ids],
            )
            self._outbox_added = self._outbox_added or bool(outbox)
        return stored

    def _number(self, out: PendingOutput) -> tuple[tuple[object, ...], StoredOutput]:
        """Give an output the line's next sequence number: its ``outputs`` row and itself."""
        counters = self._counters(out.line)
        counters.last_out += 1
        text = format_output(
            OutputMessage(
                out.mke, out.sender, out.in_time, out.in_seq, out.out_time,
                counters.last_out, out.dest, out.control, out.body,
            )
        )
        row = (out.line, counters.last_out, out.input_id, out.out_time.isoformat(),
               out.mke, out.sender, out.dest, text)
        return row, StoredOutput(out.line, counters.last_out, text, out.mke, out.dest, out.in_time)

    def last_ack(self, line: str) -> int:
        """The last output sequence number the line acknowledged."""
        counters = self._lines.get(line)
        return counters.last_ack if counters else 0

    def last_out(self, line: str) -> int:
        """The last output sequence number issued to the line."""
        counters = self._lines.get(line)
        return counters.last_out if counters else 0

    def unacknowledged(
        self, line: str, after: int | None = None, limit: int = -1
    ) -> list[StoredOutput]:
        """Outputs to the line after ``after`` (its last acknowledgement), in sequence order.

        ``limit`` pages through a long backlog (-1: all of it).
        """
        return [
            StoredOutput(line, seq, text, mke, dest)
            for seq, text, mke, dest in self._db.execute(
                "SELECT seq, text, mke, dest FROM outputs WHERE line = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (line, self.last_ack(line) if after is None else after, limit),
            )
        ]

    def unprocessed_inputs(self) -> list[JournaledInput]:
        """Inputs journaled whose outputs were never stored (a crash in between)."""
        return [
            JournaledInput(row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4], row[5])
            for row in self._db.execute(
                "SELECT id, line, in_seq, received_at, text, bad FROM inputs"
                # A literal, as in the partial index, so the index serves this query.
                " WHERE processed = 0 ORDER BY id"
            )
        ]

    # The MQTT bus (gateway/bus, docs/scale-out.md)

    def _write_outbox(self, outputs: list[PendingOutput]) -> None:
        self._db.executemany(
            "INSERT INTO outbox (line, input_id, mke, sender, dest, control, body, in_time,"
            " in_seq, out_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (out.line, out.input_id, out.mke, out.sender, out.dest, out.control, out.body,
                 out.in_time.isoformat(), out.in_seq, out.out_time.isoformat())
                for out in outputs
            ],
        )

    def outbox(self, limit: int, lines: Iterable[str]) -> list[OutboxEntry]:
        """The oldest outputs for ``lines`` waiting to cross the broker, in the order stored."""
        wanted = list(lines)
        if not wanted:
            return []
        return [
            OutboxEntry(
                row[0],
                PendingOutput(
                    row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                    datetime.fromisoformat(row[8]), row[9], datetime.fromisoformat(row[10]),
                ),
            )
            for row in self._db.execute(
                "SELECT id, line, input_id, mke, sender, dest, control, body, in_time, in_seq,"
                f" out_time FROM outbox WHERE line IN ({', '.join('?' * len(wanted))})"
                " ORDER BY id LIMIT ?",
                (*wanted, limit),
            )
        ]

    def outbox_sent(self, ids: Iterable[int]) -> None:
        """Forget outbox entries the broker has taken."""
        with self.transaction():
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def origin(self) -> str:
        """A name for this journal file, new with every new file; it tags outbox entries."""
        row = self._db.execute("SELECT origin FROM bus_origin").fetchone()
        if row is not None:
            return str(row[0])
        origin = uuid.uuid4().hex
        with self.transaction():
            self._db.execute("INSERT INTO bus_origin (origin) VALUES (?)", (origin,))
        return origin

    def store_remote(
        self, origin: str, entries: Iterable[tuple[int, PendingOutput]]
    ) -> list[StoredOutput]:
        """Number outputs another journal sent, each with its outbox id, in one transaction.

        An (origin, id) already taken is a redelivery and is dropped: an output is numbered
        once however often the broker hands it over.
        """
        stored: list[StoredOutput] = []
        with self.transaction():
            rows = []
            for ident, out in entries:
                cursor = self._db.execute(
                    "INSERT INTO bus_seen (origin, id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (origin, ident),
                )
                if cursor.rowcount == 0:
                    continue
                row, output = self._number(out)
                rows.append(row)
                stored.append(output)
            self._db.executemany(
                "INSERT INTO outputs (line, seq, input_id, created_at, mke, sender, dest, text)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return stored

    def outputs_after(self, line: str, seq: int) -> list[StoredOutput]:
        """Outputs to the line numbered after ``seq``, in sequence order."""
        return [
            StoredOutput(line, number, text, mke, dest)
            for number, text, mke, dest in self._db.execute(
                "SELECT seq, text, mke, dest FROM outputs WHERE line = ? AND seq > ? ORDER BY seq",
                (line, seq),
            )
        ]

    def published(self) -> dict[str, int]:
        """Per line, the last output sequence number the broker took over MQTT."""
        return {line: seq for line, seq in self._db.execute("SELECT line, seq FROM bus_published")}

    def set_published(self, cursors: dict[str, int]) -> None:
        """Record how far each line's outputs were published over MQTT."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO bus_published (line, seq) VALUES (?, ?)"
                " ON CONFLICT (line) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                list(cursors.items()),
            )
