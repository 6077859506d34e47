"""The journal's outputs table: a rowid table with its (line, seq) key in an index, and an
earlier journal's WITHOUT ROWID table read and written alike (gateway/journal.py)."""

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.journal import SCHEMA, Journal, PendingOutput

AT = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
EARLIER_OUTPUTS = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS outputs"):
                         SCHEMA.index("CREATE TABLE IF NOT EXISTS audit_log")].replace(
    "\n);", "\n) WITHOUT ROWID;")


def store_and_read(path: Path) -> list[tuple[str, int, str]]:
    """Store outputs for two lines, interleaved, and read one line's back after its first."""
    journal = Journal(path)
    try:
        pending = [PendingOutput(line, None, "AM", "LESC", f"{line}0000000", None, body, AT, 0, AT)
                   for line, body in (("CA", "ONE"), ("TX", "TWO"), ("CA", "THREE"),
                                      ("CA", "FOUR"), ("TX", "FIVE"))]
        journal.store_outputs([], pending, lambda out, seq: f"{out.line} {seq} {out.body}")
        return [(out.line, out.seq, out.text) for out in journal.outputs_after("CA", 1)]
    finally:
        journal.close()


def is_rowid_table(path: Path) -> bool:
    """Whether the outputs table has rowids (a WITHOUT ROWID table has none to select)."""
    with closing(sqlite3.connect(path)) as db:
        try:
            db.execute("SELECT rowid FROM outputs LIMIT 1").fetchall()
        except sqlite3.OperationalError:
            return False
        return True


def test_a_new_journal_appends_outputs_to_a_rowid_table(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    assert store_and_read(path) == [("CA", 2, "CA 2 THREE"), ("CA", 3, "CA 3 FOUR")]
    assert is_rowid_table(path)
    with closing(sqlite3.connect(path)) as db:
        # Stored in the order made, whichever line: the pages a batch rewrites are the last.
        order = db.execute("SELECT line, seq FROM outputs ORDER BY rowid").fetchall()
        assert order == [("CA", 1), ("TX", 1), ("CA", 2), ("CA", 3), ("TX", 2)]
        # The key holds still: a number is a line's once.
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO outputs VALUES ('CA', 2, NULL, '', 'AM', 'X', 'Y', 'Z')")


def test_an_earlier_journal_keeps_its_outputs_table_and_works_alike(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(EARLIER_OUTPUTS)
    assert not is_rowid_table(path)
    assert store_and_read(path) == [("CA", 2, "CA 2 THREE"), ("CA", 3, "CA 3 FOUR")]
    assert not is_rowid_table(path)
