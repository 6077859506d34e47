"""A serving journal's WAL is checkpointed on a thread of its own, not in the event loop's
commits (gateway/checkpoint.py)."""

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from gateway.journal import Journal


def rows_in_database_file(path: Path) -> int:
    """Inputs the database file itself holds: ``immutable`` reads it without the WAL."""
    with sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0])
        except sqlite3.OperationalError:
            # The table itself is still only in the WAL.
            return 0


def checkpointers() -> list[threading.Thread]:
    """The checkpoint threads running."""
    return [t for t in threading.enumerate() if t.name == "iaqgw-checkpoint"]


def test_commits_leave_the_wal_to_the_checkpointer_which_copies_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.checkpoint_apart(log=None)
    try:
        journal.record_lines(datetime.now(UTC), [("CA", [(f"TEXT {n}", None) for n in range(50)])])
        deadline = time.monotonic() + 10
        while rows_in_database_file(path) != 50:
            assert time.monotonic() < deadline, "the WAL was never copied into the file"
            time.sleep(0.05)
        assert len(checkpointers()) == 1
    finally:
        journal.close()
    assert checkpointers() == []


def test_without_the_checkpointer_the_commit_does_not_copy_a_small_wal(tmp_path: Path) -> None:
    # The control for the test above: the file holds the rows only through a checkpoint.
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    try:
        journal.record_lines(datetime.now(UTC), [("CA", [(f"TEXT {n}", None) for n in range(50)])])
        time.sleep(1.0)
        assert rows_in_database_file(path) == 0
        assert checkpointers() == []
    finally:
        journal.close()


def test_under_steady_writes_the_wal_is_started_again_within_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    wal = tmp_path / "journal.sqlite3-wal"
    limit = 256 * 1024
    journal = Journal(path)
    journal.checkpoint_apart(log=None, interval=0.02, wal_limit=limit)
    try:
        # Writes that never pause for a checkpoint to catch up: without the RESTART past the
        # limit the WAL would hold every frame of every commit (several MB).
        deadline = time.monotonic() + 2.0
        written = 0
        while time.monotonic() < deadline:
            journal.record_lines(datetime.now(UTC), [("CA", [("X" * 2000, None)] * 20)])
            written += 20 * 2000
        assert wal.stat().st_size < written / 4
        # When the writer slows down, its commits start the WAL again and cut it back.
        deadline = time.monotonic() + 10
        while wal.stat().st_size > limit:
            assert time.monotonic() < deadline, f"the WAL stayed at {wal.stat().st_size} bytes"
            journal.record_lines(datetime.now(UTC), [("CA", [("SLOW", None)])])
            time.sleep(0.05)
    finally:
        journal.close()
