"""Accepted runs in the audit trail: a line's consecutive inputs accepted at one moment are
one row of ``audit_log`` (gateway/journal.py, SCHEMA), and still an entry each in the view
``audit`` and in ``iaqgw audit``, on a journal made now and on one of an earlier version.

tests/test_postgres_audit.py runs the first two tests on PostgreSQL too.
"""

import sqlite3
import tempfile
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from test_audit import CA, audit_rows, journal_of

from gateway.audit import read_audit
from gateway.journal import SCHEMA, AuditRecord, Journal
from gateway.store import Location, connect

AT = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
# One read's inputs, in the order the switch answers them: (line, sender ORI, key, refused
# by the service too). ORIs and keys differ within a run; a refusal ends one, and so does the
# next line's first input (its id follows the last of the line before).
BATCH = [("CA", CA, "IAQ", False), ("CA", "CA0340100", "AM", False),
         ("CA", "CA0190000", "ZQ", True), ("CA", CA, "IAQ", False), ("CA", CA, "IAQ", False),
         ("TX", "TX0000000", "IAQ", False), ("TX", "TX0100000", "AM", False)]
# What the view and the command give for it: (event, line, ori, mke, in_seq).
BATCH_TRAIL = [("accepted", "CA", CA, "IAQ", 1), ("accepted", "CA", "CA0340100", "AM", 2),
               ("accepted", "CA", "CA0190000", "ZQ", 3), ("rejected", "CA", "CA0190000", "ZQ", 3),
               ("accepted", "CA", CA, "IAQ", 4), ("accepted", "CA", CA, "IAQ", 5),
               ("accepted", "TX", "TX0000000", "IAQ", 1), ("accepted", "TX", "TX0100000", "AM", 2)]

# An input of a generated read: (line, sender ORI, key, accepted, refused).
Input = tuple[str, str, str, bool, bool]


def answer(location: Location, inputs: list[Input]) -> list[tuple[object, ...]]:
    """Journal the inputs as one read and store their audit records as the switch does;
    the trail expected of them, an entry a record."""
    journal = Journal(location)
    lines = list(dict.fromkeys(line for line, *_ in inputs))
    journaled = journal.record_lines(
        AT, [(line, [("TEXT", None) for i in inputs if i[0] == line]) for line in lines])
    by_line = sorted(inputs, key=lambda i: lines.index(i[0]))
    records, trail = [], []
    for item, (line, ori, mke, accepted, refused) in zip(journaled, by_line, strict=True):
        if accepted:
            records.append(AuditRecord(AT, "accepted", line, ori, mke, item.in_seq, item.id))
            trail.append(("accepted", line, ori, mke, item.in_seq))
        if refused:
            records.append(AuditRecord(AT, "rejected", line, ori, mke, item.in_seq,
                                       outcome=".05. NO"))
            trail.append(("rejected", line, ori, mke, item.in_seq))
    journal.store_outputs([item.id for item in journaled], [], lambda out, seq: "", records)
    journal.close()
    return trail


def view_trail(location: Location) -> list[tuple[object, ...]]:
    """The view ``audit``'s entries, in the table's order."""
    db = connect(location)
    try:
        return [tuple(row) for row in db.execute(
            "SELECT event, line, ori, mke, in_seq FROM audit ORDER BY id, in_seq")]
    finally:
        db.close()


def command_trail(location: Location) -> list[tuple[object, ...]]:
    """What ``iaqgw audit`` reads, as the view's entries."""
    return [(e.event, e.line, e.ori, e.mke, e.in_seq) for e in read_audit(location)]


def audit_log_rows(location: Location) -> int:
    db = connect(location)
    try:
        return int(db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])
    finally:
        db.close()


def test_a_batch_accepted_is_a_row_a_run_and_an_entry_an_input(tmp_path: Path) -> None:
    location = journal_of(tmp_path)
    answer(location, [(line, ori, mke, True, refused) for line, ori, mke, refused in BATCH])
    # CA 1 to 3, the refusal of CA 3, CA 4 and 5, TX 1 and 2.
    assert audit_log_rows(location) == 4
    assert view_trail(location) == BATCH_TRAIL
    rows = audit_rows(tmp_path)
    assert [(r["event"], r["line"], r["ori"], r["mke"], r["in_seq"]) for r in rows] == BATCH_TRAIL
    # An accepted entry names its own line as the input's.
    assert {r["in_line"] for r in rows} == {"CA", "TX"}
    assert [r["in_seq"] for r in audit_rows(tmp_path, "--limit", "2")] == [1, 2]
    assert [(r["line"], r["in_seq"]) for r in audit_rows(tmp_path, "--line", "TX")] == [
        ("TX", 1), ("TX", 2)]
    assert len(audit_rows(tmp_path, "--event", "accepted")) == 7


def test_an_input_alone_keeps_a_row_of_its_own(tmp_path: Path) -> None:
    location = journal_of(tmp_path)
    answer(location, [("CA", CA, "IAQ", True, False)])
    db = connect(location)
    try:
        row = db.execute("SELECT ori, mke, in_seq, in_id, last_in_id FROM audit_log").fetchone()
    finally:
        db.close()
    assert tuple(row) == (CA, "IAQ", 1, 1, None)
    assert view_trail(location) == command_trail(location) == [("accepted", "CA", CA, "IAQ", 1)]


@given(st.lists(st.tuples(st.sampled_from(["CA", "TX"]),
                          # The last does not fit a run's row (the grammar allows none such).
                          st.sampled_from([CA, "CA0340100", "TX0100000", "CA034"]),
                          st.sampled_from(["IAQ", "AM", "ZQ", "LONG"]),
                          st.booleans(), st.booleans()), max_size=30))
def test_the_trail_has_an_entry_a_record_whatever_the_runs(inputs: list[Input]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        location = Path(directory) / "journal.sqlite3"
        trail = answer(location, inputs)
        # Entries of one row share its id, in input order: the records' order.
        assert view_trail(location) == trail
        assert command_trail(location) == trail
        assert audit_log_rows(location) <= len(trail)


# The view of round 18, before accepted runs.
_VIEW_BEFORE_RUNS = """
CREATE VIEW audit AS
SELECT id, at, event, line, ori, mke, in_seq, out_seq, outcome
FROM audit_log WHERE last_seq IS NULL
UNION ALL
SELECT a.id, a.at, a.event, a.line, o.dest, o.mke, NULL, o.seq, a.outcome
FROM audit_log a CROSS JOIN outputs o ON o.rowid BETWEEN a.out_id AND a.last_id
    AND +o.line = a.line
WHERE a.last_seq IS NOT NULL;
"""


def test_a_journal_made_before_runs_gets_the_view_that_reads_them(tmp_path: Path) -> None:
    location = tmp_path / "journal.sqlite3"
    with closing(sqlite3.connect(location)) as db:
        db.executescript(SCHEMA)
        db.executescript("DROP VIEW audit; ALTER TABLE audit_log DROP COLUMN in_id;"
                         " ALTER TABLE audit_log DROP COLUMN last_in_id;" + _VIEW_BEFORE_RUNS)
        db.execute("INSERT INTO audit_log (at, event, line, ori, mke, in_seq)"
                   " VALUES (?, 'accepted', 'CA', ?, 'IAQ', 1)", (AT.isoformat(), CA))
        db.commit()
    earlier = [("accepted", "CA", CA, "IAQ", 1)]
    # Read as it is, read-only: the command reads the runs' columns as empty.
    assert command_trail(location) == earlier
    trail = answer(location, [("CA", "CA0340100", "AM", True, False),
                              ("CA", "CA0190000", "IAQ", True, False)])
    assert audit_log_rows(location) == 2
    assert view_trail(location) == command_trail(location) == earlier + trail
