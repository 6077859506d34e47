"""The journal's outputs table: a rowid table without a (line, seq) key, a line's outputs found
by scanning forward from its ``scan_from``; and the keyed tables of earlier journals, read
and written alike (gateway/journal.py, SCHEMA)."""

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.journal import KEYED_SCHEMA, Journal, PendingOutput, outputs_keyed

AT = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
LINES = ("CA", "TX", "NY")
# The outputs table of journals made in rounds 13 and 14 of issue 13 (a rowid table, the key in
# an index) and before (WITHOUT ROWID), with the tables round 15 added columns to as they were.
KEYED_OUTPUTS = KEYED_SCHEMA[KEYED_SCHEMA.index("CREATE TABLE IF NOT EXISTS outputs"):
                             KEYED_SCHEMA.index("CREATE TABLE IF NOT EXISTS audit_log")]
EARLIER_TABLES = {
    "keyed": KEYED_SCHEMA,
    "without rowid": KEYED_SCHEMA.replace(KEYED_OUTPUTS,
                                          KEYED_OUTPUTS.replace("\n);", "\n) WITHOUT ROWID;")),
}
ADDED_COLUMNS = (("audit_log", "out_id"), ("audit_log", "last_id"), ("line_state", "scan_from"))


def pending(*lines: str) -> list[PendingOutput]:
    """One output to each line named, in that order."""
    return [PendingOutput(line, None, "AM", "LESC", f"{line}0000000", None, "BODY", AT, 0, AT)
            for line in lines]


def render(out: PendingOutput, seq: int) -> str:
    """An output's text: its line and number."""
    return f"{out.line} {seq}"


def store_and_read(path: Path) -> list[tuple[str, int, str]]:
    """Store outputs for two lines, interleaved, and read one line's back after its first."""
    journal = Journal(path)
    try:
        journal.store_outputs([], pending("CA", "TX", "CA", "CA", "TX"), render)
        return [(out.line, out.seq, out.text) for out in journal.outputs_after("CA", 1)]
    finally:
        journal.close()


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows of ``sql`` on the journal file."""
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def test_a_new_journal_appends_outputs_numbered_by_rowid_without_a_key(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    assert store_and_read(path) == [("CA", 2, "CA 2"), ("CA", 3, "CA 3")]
    # Stored in the order made, whichever line: the pages a batch rewrites are the last.
    assert query(path, "SELECT rowid, line, seq FROM outputs ORDER BY rowid") == [
        (1, "CA", 1), (2, "TX", 1), (3, "CA", 2), (4, "CA", 3), (5, "TX", 2)]
    assert query(path, "PRAGMA index_list(outputs)") == []
    with closing(sqlite3.connect(path)) as db:
        assert not outputs_keyed(db)
    journal = Journal(path)
    try:
        assert [(o.seq, o.id) for o in journal.outputs_after("TX", 0)] == [(1, 2), (2, 5)]
    finally:
        journal.close()


@pytest.mark.parametrize("layout", sorted(EARLIER_TABLES))
def test_an_earlier_journal_keeps_its_key_gains_the_new_columns_and_works_alike(
    tmp_path: Path, layout: str
) -> None:
    path = tmp_path / "journal.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(EARLIER_TABLES[layout])
        for table, column in ADDED_COLUMNS:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    assert store_and_read(path) == [("CA", 2, "CA 2"), ("CA", 3, "CA 3")]
    with closing(sqlite3.connect(path)) as db:
        assert outputs_keyed(db)
        for table, column in ADDED_COLUMNS:
            assert column in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        # The key holds still: a number is a line's once.
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO outputs VALUES ('CA', 2, NULL, '', 'AM', 'X', 'Y', 'Z')")
    journal = Journal(path)
    try:
        # No rowids to give: the outputs are found by their key.
        assert [(o.seq, o.id) for o in journal.outputs_after("TX", 0)] == [(1, None), (2, None)]
    finally:
        journal.close()


def test_a_line_acknowledged_in_full_is_scanned_from_the_next_rowid(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.store_outputs([], pending("CA", "CA", "TX", "CA"), render)
    assert journal.acknowledge("CA", 3) == 3
    journal.store_outputs([], pending("TX", "CA", "CA"), render)
    journal.close()
    assert query(path, "SELECT line, last_ack, scan_from FROM line_state ORDER BY line") == [
        ("CA", 3, 5), ("TX", 0, 0)]

    journal = Journal(path)
    try:
        assert [(o.seq, o.id) for o in journal.outputs_after("CA", 3)] == [(4, 6), (5, 7)]
        # Asked from before its acknowledgement, the line is scanned from the start.
        assert [o.seq for o in journal.outputs_after("CA", 1)] == [2, 3, 4, 5]
        # A line never acknowledged in full: its first unacknowledged output, once read, is
        # where its next scans start.
        journal.acknowledge("TX", 1)
        assert [o.seq for o in journal.outputs_after("TX", 1)] == [2]
        journal.flush()
    finally:
        journal.close()
    assert query(path, "SELECT scan_from FROM line_state WHERE line = 'TX'") == [(5,)]


@contextmanager
def journal_file() -> Iterator[Path]:
    """A journal file's path in a directory of its own (hypothesis runs many in one test)."""
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory) / "journal.sqlite3"


class Refused(Exception):
    """Raised by a render to roll a batch back."""


def refuse(out: PendingOutput, seq: int) -> str:
    """A render that fails: the batch is rolled back."""
    raise Refused(f"{out.line} {seq}")


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("store"), st.lists(st.sampled_from(LINES), min_size=1, max_size=6)),
        st.tuples(st.just("refused"), st.lists(st.sampled_from(LINES), min_size=1, max_size=3)),
        st.tuples(st.just("ack"), st.sampled_from(LINES), st.integers(0, 12)),
        st.tuples(st.just("page"), st.sampled_from(LINES), st.integers(0, 12), st.integers(1, 3)),
        st.tuples(st.just("reopen")),
    ),
    max_size=30,
)


@given(STEPS)
def test_a_line_reads_every_output_after_any_number_whatever_came_before(
    steps: list[tuple[object, ...]],
) -> None:
    stored: dict[str, list[int]] = {line: [] for line in LINES}
    acked = dict.fromkeys(LINES, 0)

    def expected(line: str, after: int) -> list[int]:
        return [seq for seq in stored[line] if seq > after]

    with journal_file() as path:
        journal = Journal(path)
        try:
            for step in steps:
                match step:
                    case ("store", list(lines)):
                        for out in journal.store_outputs([], pending(*lines), render):
                            assert out.text == f"{out.line} {out.seq}"
                            stored[out.line].append(out.seq)
                    case ("refused", list(lines)):
                        with pytest.raises(Refused):
                            journal.store_outputs([], pending(*lines), refuse)
                    case ("ack", str(line), int(seq)):
                        acked[line] = min(max(acked[line], seq), len(stored[line]))
                        assert journal.acknowledge(line, seq) == acked[line]
                    case ("page", str(line), int(after), int(limit)):
                        # A backlog read page by page, as a line's sign-on reads it.
                        got: list[int] = []
                        last = after
                        while page := journal.outputs_after(line, last, limit):
                            assert len(page) <= limit
                            got += [out.seq for out in page]
                            last = page[-1].seq
                        assert got == expected(line, after)
                    case ("reopen",):
                        journal.close()
                        journal = Journal(path)
            for line in LINES:
                assert journal.last_ack(line) == acked[line]
                for after in range(len(stored[line]) + 1):
                    assert [o.seq for o in journal.outputs_after(line, after)] == expected(
                        line, after)
        finally:
            journal.close()


def test_the_trail_of_a_journal_without_the_key_finds_a_runs_outputs_by_rowid(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    plan = [str(row[3]) for row in query(path, "EXPLAIN QUERY PLAN SELECT * FROM audit")]
    # Not a scan of every output, nor an index of them built for each query.
    assert "SEARCH o USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan
    assert not [step for step in plan if "SCAN o" in step or "AUTOMATIC" in step]
