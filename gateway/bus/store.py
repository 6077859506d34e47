"""The bus's tables in the journal's database (docs/scale-out.md), written in the journal's
transactions: the outbox, the envelopes already numbered, how far MQTT lines were published,
and this journal's origin name.

Outputs for lines homed on another instance are kept in the outbox in the transaction that
stores the rest of their batch; envelopes from other journals are numbered here once, however
often the broker hands them over.
"""

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from gateway.bus import Homes
from gateway.journal import Journal, NumberedOutput, PendingOutput, Render
from gateway.outputs import render_output
from gateway.store import Location, Store, Transaction
from responders.base import POSTGRESQL

SCHEMA = """
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


# The origin of every envelope from a shared (PostgreSQL) store.
SHARED_ORIGIN: Final = "shared"
# More outbox entries than any outbox holds.
_ALL: Final = 2**62


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An output waiting in the outbox to cross the broker to its line's home."""

    id: int
    output: PendingOutput


class BusStore:
    """The bus's rows, on the journal's writer (its transactions) and a reader of their own."""

    def __init__(
        self, journal: Journal, path: Location, homes: Homes, render: Render = render_output
    ) -> None:
        self._journal = journal
        self._homes = homes
        # Outputs from other journals are rendered here, in their line's format.
        self._render = render
        self._store = Store(path, journal.transaction, journal.schema)
        self._store.schema(SCHEMA)
        # Set when the outbox got entries, and when a home came back: the drain looks again.
        self._wake = asyncio.Event()

    def close(self) -> None:
        """Close the read connection."""
        self._store.close()

    def keep(self, outputs: Sequence[PendingOutput], tx: Transaction) -> Sequence[PendingOutput]:
        """Keep outputs for lines homed elsewhere in the outbox, in ``tx``; return the others.

        The drain wakes on the event loop's next turn: after this synchronous transaction has
        committed (or rolled back, and then it finds nothing new).
        """
        remote = [out for out in outputs if self._homes.is_remote(out.line)]
        if not remote:
            return outputs
        tx.executemany(
            "INSERT INTO outbox (line, input_id, mke, sender, dest, control, body, in_time,"
            " in_seq, out_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (out.line, out.input_id, out.mke, out.sender, out.dest, out.control, out.body,
                 out.in_time.isoformat(), out.in_seq, out.out_time.isoformat())
                for out in remote
            ],
        )
        self._wake.set()
        return [out for out in outputs if not self._homes.is_remote(out.line)]

    def wake(self) -> None:
        """Have the drain look at the outbox again."""
        self._wake.set()

    async def woken(self) -> None:
        """Wait until the outbox may hold something new for a live home."""
        await self._wake.wait()
        self._wake.clear()

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
            for row in self._store.reader().execute(
                "SELECT id, line, input_id, mke, sender, dest, control, body, in_time, in_seq,"
                f" out_time FROM outbox WHERE line IN ({', '.join('?' * len(wanted))})"
                " ORDER BY id LIMIT ?",
                (*wanted, limit),
            )
        ]

    def outbox_sent(self, ids: Iterable[int]) -> None:
        """Forget outbox entries the broker has taken."""
        with self._store.transaction() as tx:
            tx.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def origin(self) -> str:
        """A name for this journal, new with every new file; it tags outbox entries.

        A shared store is one journal for every instance, its outbox ids drawn from one
        sequence: one fixed name, which instances starting together cannot make twice.
        """
        if self._store.dialect == POSTGRESQL:
            return SHARED_ORIGIN
        for (known,) in self._store.reader().execute("SELECT origin FROM bus_origin").fetchall():
            return str(known)
        origin = uuid.uuid4().hex
        with self._store.transaction() as tx:
            tx.execute("INSERT INTO bus_origin (origin) VALUES (?)", (origin,))
        return origin

    def store_remote(
        self, origin: str, entries: Iterable[tuple[int, PendingOutput]]
    ) -> list[NumberedOutput]:
        """Number outputs another journal sent, each with its outbox id, in one transaction.

        An (origin, id) already taken is a redelivery and is dropped: an output is numbered
        once however often the broker hands it over.
        """
        with self._store.transaction() as tx:
            fresh = [
                out
                for ident, out in entries
                if tx.execute(
                    "INSERT INTO bus_seen (origin, id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (origin, ident),
                ).rowcount
            ]
            return self._journal.store_outputs((), fresh, self._render)

    def take_over(self, origin: str, lines: Iterable[str]) -> list[NumberedOutput]:
        """Number here, in one transaction, what waits in the outbox for lines that became
        homed here (their home's lease ran out); recorded as envelopes of ``origin``, so one
        that was published meanwhile is numbered once."""
        entries = self.outbox(_ALL, lines)
        if not entries:
            return []
        with self._store.transaction() as tx:
            tx.executemany("DELETE FROM outbox WHERE id = ?", [(e.id,) for e in entries])
            return self.store_remote(origin, [(e.id, e.output) for e in entries])

    def published(self) -> dict[str, int]:
        """Per line, the last output sequence number the broker took over MQTT."""
        reader = self._store.reader()
        return {line: seq for line, seq in reader.execute("SELECT line, seq FROM bus_published")}

    def set_published(self, cursors: dict[str, int]) -> None:
        """Record how far each line's outputs were published over MQTT."""
        with self._store.transaction() as tx:
            tx.executemany(
                "INSERT INTO bus_published (line, seq) VALUES (?, ?)"
                " ON CONFLICT (line) DO UPDATE SET seq = excluded.seq"
                " WHERE bus_published.seq < excluded.seq",
                list(cursors.items()),
            )
