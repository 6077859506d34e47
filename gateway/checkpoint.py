"""WAL checkpoints of a SQLite journal, on a thread of their own.

SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages, on
the committing connection: for the journal that is the event loop, and the checkpoint's
writes and fsync held it for 5 to 18 ms several times a second under load
(docs/benchmarks.md, "Issue 13 changes", round 3). Here a second connection copies the WAL
into the database file every ``interval`` seconds, or at once when the writer finds the WAL
past its limit (``restart_due``), with a PASSIVE checkpoint, which never
waits for the writer nor stops it: SQLite lets a checkpoint and a writer share a WAL
database. The sqlite3 module releases the GIL while SQLite works, so the loop runs on
meanwhile; but where the loop and the thread share one core, the loop waits while a copy has
it, and the copies come more often, each smaller, while the writer commits small batches
(``SMALL_BATCHES``). Past ``WAL_LIMIT`` the writer finishes the job itself (below).
"""

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

# Each copy takes a share of the core the event loop runs on (the threads share one process):
# a tenth of a second's writes at 5,000 IAQ/s held the loop a few ms, half a second's 10 to
# 25 ms (docs/benchmarks.md, round 13).
DEFAULT_INTERVAL = 0.1
# Commits a second past which the writer is answering inputs in batches of a few, as the
# event loop does below saturation (the open loop at 5,000 IAQ/s: about 3,300 a second; the
# end-to-end load's batches of a hundred and more: about 200). Its inputs then wait behind
# each copy, so the next comes after a fifth of the interval, a fifth as large: the open
# loop's p99 fell by about a quarter (docs/benchmarks.md, round 23). Not for large batches:
# each copy takes the pages written most often (each table's last) again, and five times the
# copies cost the end-to-end rate about 3 %. The process's share of the core does not tell
# the two apart: the small batches keep the core as busy as the large ones.
SMALL_BATCHES = 1000
SMALL_BATCH_SHARE = 0.2
# A copy takes the frames committed before it began. While the writer commits small batches
# the copy is made again at once, up to this many times, while it leaves frames committed
# during it: a copy that takes the whole WAL lets SQLite start the WAL again from its
# beginning at the next commit, and the writer's RESTART, whose two fsyncs the event loop
# waits for, is not needed (the open loop's eleven a run: none).
CATCH_UP = 3
# Under steady writes a PASSIVE checkpoint never catches the writer up, and only a fully
# copied WAL is started again from its beginning. Past this size the writer runs a RESTART
# checkpoint itself after a commit (``restart_due``), and the next commit starts the WAL
# again. Run from the thread, a RESTART waits for a gap between the writer's transactions that
# a busy writer never leaves. The writer looks at the WAL's size itself after each commit (a
# stat): when the thread told it, the thread knew the size only once its own PASSIVE had ended,
# and on a slow disk the RESTART came a whole copy and fsync late.
WAL_LIMIT = 32 * 1024 * 1024
# A RESTART copies what the thread has not, with the event loop waiting: up to an interval's
# writes (7 to 29 ms at 5,000 IAQ/s, with half a second's: docs/benchmarks.md, round 13). So
# the writer that finds the WAL past its limit first wakes the thread, and restarts the WAL
# after the thread's next PASSIVE, when only the writes made during that copy are left. A
# thread that does not come (its copies failing) leaves the writer to restart the WAL alone
# past this many limits.
RESTART_ALONE = 2


class Checkpointer:
    """Checkpoints the WAL of the SQLite database at ``path`` until :meth:`stop`."""

    def __init__(self, path: Path, log: Any = None, interval: float = DEFAULT_INTERVAL,
                 wal_limit: int = WAL_LIMIT) -> None:
        self._path = path
        self._wal_limit = wal_limit
        self._wal = f"{path}-wal"
        self._log = log
        self._interval = interval
        self._stopping = threading.Event()
        # Set by the writer (or stop) to have the thread copy now, not at the interval's end.
        self._wanted = threading.Event()
        # PASSIVE checkpoints the thread has finished, and how many it had when the writer
        # first found the WAL past its limit (None: not past it). One writer reads them.
        self._copies = 0
        self._copies_when_past: int | None = None
        # The writer's commits, counted by restart_due, which it calls after each.
        self._commits = 0
        self._thread = threading.Thread(target=self._run, name="iaqgw-checkpoint", daemon=True)

    @property
    def copies(self) -> int:
        """PASSIVE checkpoints the thread has finished."""
        return self._copies

    def restart_due(self) -> bool:
        """Called by the writer after each commit: whether it should RESTART the WAL now,
        between transactions: past its limit and copied by the thread since
        (``journal_size_limit`` cuts a WAL started again back to the limit, so past it the
        file's size is what the WAL holds)."""
        self._commits += 1
        try:
            size = os.stat(self._wal).st_size
        except FileNotFoundError:
            size = 0
        if size <= self._wal_limit:
            self._copies_when_past = None
            return False
        if self._copies_when_past is None:
            self._copies_when_past = self._copies
            self._wanted.set()
        return (self._copies > self._copies_when_past
                or size > RESTART_ALONE * self._wal_limit)

    def start(self) -> "Checkpointer":
        """Start checkpointing."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the checkpoint under way, if any."""
        self._stopping.set()
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                             timeout=10.0)
        # SQLite syncs the database file only after a checkpoint that copied the whole WAL,
        # which a PASSIVE beside a busy writer never does: the writer's RESTART then flushed
        # every page the thread had copied, 3 to 6 ms with the event loop waiting. Synced
        # here after each copy, that flush finds only the RESTART's own pages.
        database = os.open(self._path, os.O_RDONLY)
        # (frames in the WAL, frames copied) at the last sync: an idle journal's rounds, ten
        # a second, copy nothing and sync nothing.
        synced: tuple[int, int] | None = None
        failing = False
        wait = self._interval
        # When the last round began, and the writer's commits then.
        began = (time.monotonic(), self._commits)
        try:
            while True:
                self._wanted.wait(wait)
                if self._stopping.is_set():
                    break
                self._wanted.clear()
                now = (time.monotonic(), self._commits)
                small_batches = now[1] - began[1] > SMALL_BATCHES * (now[0] - began[0])
                wait = self._interval * SMALL_BATCH_SHARE if small_batches else self._interval
                began = now
                try:
                    frames, copied = copy_wal(db, CATCH_UP if small_batches else 0)
                    if (frames, copied) != synced:
                        os.fdatasync(database)
                        synced = (frames, copied)
                    self._copies += 1
                except (sqlite3.Error, OSError) as exc:
                    # The next round tries again; the writer's commits do not depend on it,
                    # the WAL only grows meanwhile. Said once per run of failures.
                    if not failing and self._log is not None:
                        self._log.warning("journal.checkpoint_failed", error=str(exc))
                    failing = True
                else:
                    failing = False
        finally:
            os.close(database)
            db.close()


def copy_wal(db: sqlite3.Connection, again: int) -> tuple[int, int]:
    """Copy the WAL into the database file (a PASSIVE checkpoint), and again at once, up to
    ``again`` times, while a copy leaves frames; (frames in the WAL, frames copied)."""
    _, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    while copied < frames and again > 0:
        again -= 1
        _, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames), int(copied)
