"""WAL checkpoints of a SQLite journal, on a thread of their own.

SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages, on
the committing connection: for the journal that is the event loop, and the checkpoint's
writes and fsync held it for 5 to 18 ms several times a second under load
(docs/benchmarks.md, "Issue 13 changes", round 3). Here a second connection copies the WAL
into the database file every ``interval`` seconds with a PASSIVE checkpoint, which never
waits for the writer nor stops it: SQLite lets a checkpoint and a writer share a WAL
database. The sqlite3 module releases the GIL while SQLite works, so the loop runs on
meanwhile. Past ``WAL_LIMIT`` the writer finishes the job itself (below).
"""

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

DEFAULT_INTERVAL = 0.5
# Under steady writes a PASSIVE checkpoint never catches the writer up, and only a fully
# copied WAL is started again from its beginning. Past this size the writer runs a RESTART
# checkpoint itself after a commit (``wal_over_limit``): it copies the little the thread has
# not, and the next commit starts the WAL again. Run from the thread, a RESTART waits for a
# gap between the writer's transactions that a busy writer never leaves. The writer looks at
# the WAL's size itself after each commit (a stat): when the thread told it, the thread knew
# the size only once its own PASSIVE had ended, and on a slow disk the RESTART came a whole
# copy and fsync late.
WAL_LIMIT = 32 * 1024 * 1024


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
        self._thread = threading.Thread(target=self._run, name="iaqgw-checkpoint", daemon=True)

    def wal_over_limit(self) -> bool:
        """Whether the WAL file is past its limit (``journal_size_limit`` cuts a WAL started
        again back to the limit, so past it the file's size is what the WAL holds)."""
        try:
            return os.stat(self._wal).st_size > self._wal_limit
        except FileNotFoundError:
            return False

    def start(self) -> "Checkpointer":
        """Start checkpointing."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the checkpoint under way, if any."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                             timeout=10.0)
        failing = False
        try:
            while not self._stopping.wait(self._interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # The next round tries again; the writer's commits do not depend on it,
                    # the WAL only grows meanwhile. Said once per run of failures.
                    if not failing and self._log is not None:
                        self._log.warning("journal.checkpoint_failed", error=str(exc))
                    failing = True
                else:
                    failing = False
        finally:
            db.close()
