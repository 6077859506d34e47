"""Held IARs (realistic timing): stored with the acknowledgement, released once when due.

An IAQ answered with realistic timing (responders/lesc/timing.py) leaves an
:class:`~responders.lesc.timing.AnswerHeld` effect: the runtime writes it into ``lesc_held``
in the transaction that journals the input and its acknowledgement. The scheduler asks
:meth:`HeldAnswers.next_due`; :meth:`HeldAnswers.release` sends what is due through
``ServiceContext.emit`` with the input as origin, and the released mark is written in that
emission's transaction, so a gateway killed at any moment sends each held answer exactly once:
before the commit nothing went out, after it the row is marked. Like the casebook's timed
actions, each answer is released alone when a batch fails, and a failing one backs off.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from responders.base import (
    POSTGRESQL,
    SQLITE,
    Connection,
    Emission,
    Nudge,
    Origin,
    Reply,
    Transaction,
    raised_at,
    summary,
)
from responders.lesc.casebook import moment, stamp
from responders.lesc.deadlines import BATCH, Emit, retry_delay
from responders.lesc.timing import AnswerHeld, AnswerReleased

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS lesc_held (
    input_id INTEGER PRIMARY KEY,
    line TEXT NOT NULL,
    in_seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    control TEXT,
    release_at REAL NOT NULL,
    research_s REAL NOT NULL,
    replies TEXT NOT NULL,
    released_at REAL
);
CREATE INDEX IF NOT EXISTS lesc_held_due ON lesc_held (release_at) WHERE released_at IS NULL;
"""
_INSERT: Final = (
    "INSERT INTO lesc_held (input_id, line, in_seq, received_at, control, release_at,"
    " research_s, replies) SELECT ?, ?, in_seq, ?, ?, ?, ?, ? FROM inputs WHERE id = ?"
)
HeldEffect = AnswerHeld | AnswerReleased


def held_now(db: Connection) -> dict[int, datetime]:
    """The held IARs not released yet: input id (LESC control number) -> when it falls due."""
    rows = db.execute("SELECT input_id, release_at FROM lesc_held WHERE released_at IS NULL")
    return {int(input_id): moment(release_at) for input_id, release_at in rows}


class AlreadyReleased(Exception):
    """A held answer was marked released by another emission (it must not go out twice)."""

    def __init__(self, input_id: int) -> None:
        super().__init__(f"held answer {input_id:010d} was released already")
        self.input_id = input_id


class HeldAnswers:
    """The held IARs in the LESC's store, and their release."""

    def __init__(
        self,
        db: Connection,
        *,
        dialect: str = SQLITE,
        emit: Emit,
        log: Any,
        on_write: Nudge | None = None,
    ) -> None:
        self._db = db
        # On a shared store each release claims its row: an instance releasing it already
        # holds the lock, and this one skips it rather than wait (casebook.py does the same).
        self._claim = " FOR UPDATE SKIP LOCKED" if dialect == POSTGRESQL else ""
        self._emit = emit
        self._log = log
        self._on_write = on_write
        # input id -> (next try, delay before it) of answers whose release failed
        self._retry: dict[int, tuple[datetime, timedelta]] = {}

    def write(self, effects: Sequence[HeldEffect], tx: Transaction) -> None:
        """Store held answers and mark released ones, inside the switch's transaction.

        Raises AlreadyReleased when a release finds its answer marked, so the emission's
        transaction (its outputs with it) rolls back.
        """
        # When the first answer held here falls due: the scheduler is told of it.
        first: datetime | None = None
        for effect in effects:
            if isinstance(effect, AnswerHeld):
                replies = [[r.mke, r.sender, r.dest, r.body] for r in effect.replies]
                cursor = tx.execute(
                    _INSERT,
                    (effect.input_id, effect.line, stamp(effect.received_at), effect.control,
                     stamp(effect.release_at), effect.research_s,
                     orjson.dumps(replies).decode(), effect.input_id),
                )
                if cursor.rowcount != 1:
                    raise RuntimeError(
                        f"answer {effect.input_id} held for an input the journal does not hold"
                    )
                first = effect.release_at if first is None else min(first, effect.release_at)
            else:
                claimed = tx.execute(
                    "SELECT input_id FROM lesc_held WHERE input_id = ? AND released_at IS NULL"
                    + self._claim,
                    (effect.input_id,),
                ).fetchone()
                if claimed is None:
                    raise AlreadyReleased(effect.input_id)
                tx.execute(
                    "UPDATE lesc_held SET released_at = ? WHERE input_id = ?",
                    (stamp(effect.at), effect.input_id),
                )
                # The figures' response time runs to the IAR, not the acknowledgement.
                tx.execute(
                    "UPDATE lesc_queries SET answered_at = ? WHERE input_id = ?",
                    (stamp(effect.at), effect.input_id),
                )
        if first is not None and self._on_write is not None:
            self._on_write(first)

    def next_due(self) -> datetime | None:
        """When the next held answer falls due, or a failed one's retry; None when none is held.

        A failed answer waits for its retry; the others keep their own times.
        """
        rows = self._db.execute(
            "SELECT input_id, release_at FROM lesc_held WHERE released_at IS NULL"
            " ORDER BY release_at LIMIT ?",
            (len(self._retry) + 1,),
        )
        times = [moment(at) for input_id, at in rows if input_id not in self._retry][:1]
        times += [at for at, _ in self._retry.values()]
        return min(times, default=None)

    def held_count(self) -> int:
        """How many answers are held (not released yet)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM lesc_held WHERE released_at IS NULL"
        ).fetchone()
        return int(row[0])

    def release(self, now: datetime) -> int:
        """Send the held answers due by ``now``, up to a batch; return how many went out."""
        rows = self._db.execute(
            "SELECT input_id, line, in_seq, received_at, control, release_at, research_s,"
            " replies FROM lesc_held WHERE released_at IS NULL AND release_at <= ?"
            " ORDER BY release_at LIMIT ?",
            (stamp(now), BATCH),
        ).fetchall()
        if len(rows) < BATCH:
            due_ids = {row[0] for row in rows}
            for input_id in [key for key in self._retry if key not in due_ids]:
                del self._retry[input_id]
        batch: dict[int, tuple[Emission, Sequence[Any]]] = {}
        for row in rows:
            input_id, _, in_seq, received_at, control, release_at = row[:6]
            retry = self._retry.get(input_id)
            if retry is not None and now < retry[0]:
                continue
            replies = [Reply(*reply) for reply in orjson.loads(row[7])]
            released = AnswerReleased(input_id, now, moment(release_at))
            origin = Origin(input_id, moment(received_at), in_seq, control)
            batch[input_id] = (Emission(origin, replies, (released,)), row)
        return self._send(batch, now)

    def _send(self, batch: dict[int, tuple[Emission, Sequence[Any]]], now: datetime) -> int:
        while batch:
            try:
                self._emit([emission for emission, _ in batch.values()])
            except AlreadyReleased as exc:
                del batch[exc.input_id]
                continue
            except Exception as exc:
                if len(batch) == 1:
                    self._failed(next(iter(batch.values()))[1], now, exc)
                    return 0
                # One answer sank the batch: the others go out alone.
                return sum(self._send({key: item}, now) for key, item in batch.items())
            for _, row in batch.values():
                self._retry.pop(row[0], None)
                self._released(row, now)
            return len(batch)
        return 0

    def _released(self, row: Sequence[Any], now: datetime) -> None:
        input_id, line, _, received_at, control, release_at, research_s = row[:7]
        self._log.info(
            "iar.released", line=line, case=f"{input_id:010d}", control=control,
            research_ms=round(research_s * 1000, 3),
            latency_ms=round((now.timestamp() - received_at) * 1000, 3),
            late_ms=round((now.timestamp() - release_at) * 1000, 3),
        )  # fmt: skip

    def _failed(self, row: Sequence[Any], now: datetime, exc: Exception) -> None:
        input_id, line = row[0], row[1]
        previous = self._retry.get(input_id)
        delay = retry_delay(None if previous is None else previous[1])
        self._retry[input_id] = (now + delay, delay)
        self._log.error(
            "iar.release_failed", line=line, case=f"{input_id:010d}",
            retry_s=delay.total_seconds(), error=summary(exc), where=raised_at(exc),
        )  # fmt: skip
