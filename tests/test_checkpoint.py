"""A serving journal's WAL is checkpointed on a thread of its own, not in the event loop's
commits (gateway/checkpoint.py)."""

import contextlib
import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.checkpoint import CATCH_UP, RESTART_ALONE, SMALL_BATCHES, Checkpointer, copy_wal
from gateway.journal import Journal

# A WAL limit small enough for a test to pass it in a few commits of BIG_COMMIT.
LIMIT = 256 * 1024
BIG_COMMIT = [("CA", [("X" * 2000, None)] * 20)]


def rows_in_database_file(path: Path) -> int:
    """Inputs the database file itself holds: ``immutable`` reads it without the WAL."""
    with sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0])
        except sqlite3.OperationalError:
            # The table itself is still only in the WAL.
            return 0


def wait_for_rows_in_database_file(path: Path, rows: int) -> None:
    """Wait until the database file holds ``rows`` inputs; a read that meets the thread's
    copy half-written sees a malformed file, and tries again."""
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(sqlite3.DatabaseError):
            if rows_in_database_file(path) >= rows:
                return
        assert time.monotonic() < deadline, "the WAL was not copied into the file"
        time.sleep(0.05)


def checkpointers() -> list[threading.Thread]:
    """The checkpoint threads running."""
    return [t for t in threading.enumerate() if t.name == "iaqgw-checkpoint"]


def test_commits_leave_the_wal_to_the_checkpointer_which_copies_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.checkpoint_apart(log=None)
    try:
        journal.record_lines(datetime.now(UTC), [("CA", [(f"TEXT {n}", None) for n in range(50)])])
        wait_for_rows_in_database_file(path, 50)
        assert rows_in_database_file(path) == 50
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


@pytest.fixture
def hourly(tmp_path: Path) -> Iterator[Journal]:
    """A journal whose thread copies the WAL hourly unless woken, the WAL limited to LIMIT."""
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.checkpoint_apart(log=None, interval=3600, wal_limit=LIMIT)
    try:
        yield journal
    finally:
        journal.close()


def test_a_commit_that_finds_the_wal_past_its_limit_starts_it_again(
    tmp_path: Path, hourly: Journal
) -> None:
    # The commit that finds the WAL past its limit wakes the thread, and a commit after its
    # copy (or one past twice the limit) restarts the WAL, so the next starts it again and
    # cuts it back, whatever the disk's speed. The commits between two starts are not: the
    # RESTART answers busy while the thread copies, so the WAL grows with the commits made
    # meanwhile, more of them where the thread waits for a core (a CI run cut the WAL back 9
    # times in 200 commits; this machine 18 to 36).
    wal = tmp_path / "journal.sqlite3-wal"
    hourly.record_lines(datetime.now(UTC), BIG_COMMIT)
    one_commit = wal.stat().st_size
    sizes = [one_commit]
    cut_back: list[int] = []
    # Without the RESTART the WAL would hold every commit's frames (80 MB by the last); past
    # the limit it grows only while the thread copies, and each start cuts it back.
    while len(cut_back) < 10 and len(sizes) <= 2000:
        hourly.record_lines(datetime.now(UTC), BIG_COMMIT)
        sizes.append(wal.stat().st_size)
        if sizes[-1] < sizes[-2]:
            cut_back.append(sizes[-1])
    assert len(cut_back) == 10, f"cut back {len(cut_back)} times in {len(sizes)} commits"
    assert max(cut_back) <= LIMIT + one_commit
    # The last start followed a RESTART, which copied every commit before it into the file.
    wait_for_rows_in_database_file(tmp_path / "journal.sqlite3", (len(sizes) - 1) * 20)


def test_the_wal_past_its_limit_wakes_the_thread_which_copies_it_first(
    tmp_path: Path, hourly: Journal
) -> None:
    # The writer leaves the copy to the thread, and restarts the WAL only after it: its
    # RESTART then copies only what came during the thread's copy (the event loop waits).
    wal = tmp_path / "journal.sqlite3-wal"
    written = 0
    while wal.stat().st_size <= LIMIT:
        hourly.record_lines(datetime.now(UTC), BIG_COMMIT)
        written += 20
    # Past the limit, not past twice it: the writer's RESTART waits for the thread.
    assert wal.stat().st_size <= RESTART_ALONE * LIMIT
    # Within seconds, not the interval's hour.
    wait_for_rows_in_database_file(tmp_path / "journal.sqlite3", written)
    # The next commits start the WAL again and cut it back to the limit.
    for _ in range(3):
        hourly.record_lines(datetime.now(UTC), [("CA", [("AFTER", None)])])
    assert wal.stat().st_size <= LIMIT


def test_under_steady_writes_beside_the_thread_the_wal_is_started_again(tmp_path: Path) -> None:
    # The thread's PASSIVE never catches a writer that does not pause up, so only the
    # writer's RESTART starts the WAL again; one that meets the thread's copy waits a commit.
    path = tmp_path / "journal.sqlite3"
    wal = tmp_path / "journal.sqlite3-wal"
    journal = Journal(path)
    journal.checkpoint_apart(log=None, interval=0.01, wal_limit=LIMIT)
    try:
        sizes = []
        for _ in range(300):
            journal.record_lines(datetime.now(UTC), BIG_COMMIT)
            sizes.append(wal.stat().st_size)
        assert any(after < before for before, after in itertools.pairwise(sizes))
        # When the writer slows down, its commits start the WAL again and cut it back.
        deadline = time.monotonic() + 10
        while wal.stat().st_size > LIMIT:
            assert time.monotonic() < deadline, f"the WAL stayed at {wal.stat().st_size} bytes"
            journal.record_lines(datetime.now(UTC), [("CA", [("SLOW", None)])])
            time.sleep(0.05)
    finally:
        journal.close()


def copies_while_writing(journal: Journal, checkpointer: Checkpointer, seconds: float,
                         pause: float) -> tuple[int, int]:
    """(commits, the thread's copies) while one input a commit is journaled for ``seconds``,
    ``pause`` seconds between commits."""
    copies = checkpointer.copies
    commits = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        journal.record_lines(datetime.now(UTC), [("CA", [("SMALL", None)])])
        commits += 1
        time.sleep(pause)
    return commits, checkpointer.copies - copies


def test_a_writer_of_small_batches_has_its_wal_copied_five_times_as_often(
    tmp_path: Path,
) -> None:
    # Below saturation the event loop commits inputs a few at a time, thousands of commits a
    # second, and on a shared core they wait behind each copy: the copies come after a fifth
    # of the interval, each smaller.
    journal = Journal(tmp_path / "journal.sqlite3")
    checkpointer = journal.checkpoint_apart(log=None, interval=0.5)
    assert checkpointer is not None
    try:
        commits, copies = copies_while_writing(journal, checkpointer, 2.0, 0)
        assert commits > 2 * SMALL_BATCHES
        # At the interval, four copies in two seconds; at a fifth of it, about sixteen.
        assert copies >= 8
    finally:
        journal.close()


def test_a_writer_of_few_commits_has_its_wal_copied_at_the_interval(tmp_path: Path) -> None:
    # Large batches (few commits a second) would only have their tables' last pages copied
    # again and again.
    journal = Journal(tmp_path / "journal.sqlite3")
    checkpointer = journal.checkpoint_apart(log=None, interval=0.5)
    assert checkpointer is not None
    try:
        commits, copies = copies_while_writing(journal, checkpointer, 2.0, 0.01)
        assert commits < 2 * SMALL_BATCHES
        assert 2 <= copies <= 5
    finally:
        journal.close()


@dataclass(frozen=True)
class PastAReader:
    """A database whose WAL holds frames a reader's snapshot does not reach, so a copy cannot
    take them while it reads; its writer, its reader and a connection to copy the WAL with."""

    path: Path
    writer: sqlite3.Connection
    reader: sqlite3.Connection
    copier: sqlite3.Connection

    def growth_of_a_commit(self) -> int:
        """Bytes the WAL file grows by with the writer's next commit."""
        wal = Path(f"{self.path}-wal")
        size = wal.stat().st_size
        self.writer.execute("INSERT INTO t VALUES ('after')")
        return wal.stat().st_size - size


@pytest.fixture
def past_a_reader(tmp_path: Path) -> Iterator[PastAReader]:
    """See :class:`PastAReader`."""
    path = tmp_path / "wal.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x TEXT)")
    writer.execute("INSERT INTO t VALUES ('before')")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)
    writer.execute("INSERT INTO t VALUES ('during')")
    copier = sqlite3.connect(path, isolation_level=None)
    try:
        yield PastAReader(path, writer, reader, copier)
    finally:
        for connection in (copier, reader, writer):
            connection.close()


def test_a_copy_that_leaves_frames_is_made_again_and_the_wal_starts_again(
    past_a_reader: PastAReader,
) -> None:
    # The reader stands for the writer's commits during a copy: the first copy cannot take
    # what came after its snapshot; by the second the reader is gone, and the whole WAL is
    # copied, so the next commit writes the WAL from its beginning (the file does not grow).
    copies: list[str] = []

    def copying(statement: str) -> None:
        copies.append(statement)
        if len(copies) == 2:
            past_a_reader.reader.execute("COMMIT")

    past_a_reader.copier.set_trace_callback(copying)
    frames, copied = copy_wal(past_a_reader.copier, again=CATCH_UP)
    assert len(copies) == 2
    assert copied == frames > 0
    assert past_a_reader.growth_of_a_commit() == 0


def test_without_a_second_copy_the_wal_goes_on_growing(past_a_reader: PastAReader) -> None:
    # The control for the test above.
    frames, copied = copy_wal(past_a_reader.copier, again=0)
    assert 0 < copied < frames
    past_a_reader.reader.execute("COMMIT")
    assert past_a_reader.growth_of_a_commit() > 0
