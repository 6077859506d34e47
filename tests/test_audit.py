"""CJIS audit trail (issue 6): every accepted or rejected input and every delivery leaves a
record in the journal that survives restarts; ``iaqgw audit`` prints it."""

import asyncio
import json
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from hypothesis import given
from hypothesis import strategies as st
from messages import am, iaq
from reliability_tools import LoadLine
from typer.testing import CliRunner, Result

from gateway.cli import app
from gateway.journal import (
    KEYED_SCHEMA,
    AuditRecord,
    Journal,
    PendingOutput,
    StoredOutput,
    delivery_records,
)
from gateway.store import Location, connect, relation_kind

CA = "CA0000000"


def audit_cli(data_dir: Path, *args: str) -> Result:
    """Run ``iaqgw audit`` on a data directory."""
    return CliRunner().invoke(app, ["audit", "--data-dir", str(data_dir), *args])


def audit_rows(data_dir: Path, *args: str) -> list[dict[str, object]]:
    """Audit records as JSON objects."""
    done = audit_cli(data_dir, "--json", *args)
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.stdout.splitlines()]


def journal_of(data_dir: Path) -> Location:
    """The journal the gateway and ``iaqgw audit`` use: the file in ``data_dir``, or the
    shared database of ``IAQGW_STORE`` (tests/test_postgres_audit.py runs these tests so)."""
    return os.environ.get("IAQGW_STORE") or data_dir / "journal.sqlite3"


def journal_at(data_dir: Path, *moments: datetime) -> Path:
    """A journal holding one delivery record at each moment, numbered 1, 2, 3 … in order."""
    journal = Journal(journal_of(data_dir))
    journal.note_delivered(
        AuditRecord(at, "delivered", "CA", CA, "AM", out_seq=seq)
        for seq, at in enumerate(moments, 1)
    )
    journal.close()
    return data_dir


def numbers(data_dir: Path, since: str) -> list[object]:
    """The output numbers of the records ``audit --since`` shows."""
    return [row["out_seq"] for row in audit_rows(data_dir, "--since", since)]


async def wait_for_rows(data_dir: Path, count: int) -> None:
    """Poll the journal until it holds ``count`` audit records."""
    for _ in range(500):
        db = connect(journal_of(data_dir))
        rows = db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        db.close()
        if rows >= count:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{rows} of {count} audit records")


def brief(row: dict[str, object]) -> tuple[object, ...]:
    """The fields a test compares: not the clock, and of a rejection only its ER number."""
    outcome = row["outcome"]
    if row["event"] == "rejected":
        outcome = str(outcome).split(" ", 1)[0]
    return (row["event"], row["line"], row["ori"], row["mke"], row["in_line"], row["in_seq"],
            row["out_seq"], outcome)


async def test_audit_trail_of_accepted_rejected_and_delivered(process: GatewayProcess) -> None:
    process.start()
    ca = await LoadLine.connect(process.port, "CA")
    await ca.send(iaq(CA, arn="012345678", control="Q1"))
    await ca.wait_outputs(2)
    await ca.send(iaq(CA, dob="BAD"), am("TX0000000", "CA", text="NOT MINE"))
    await ca.wait_outputs(4)
    await ca.send(am(CA, "TX", text="FOR LATER"))
    await ca.wait_outputs(5)
    await ca.close()
    # Delivery records are committed at the end of the gateway's loop iteration; once there,
    # a SIGKILL cannot take them.
    await wait_for_rows(process.data_dir, 10)
    process.kill()

    process.start()
    tx = await LoadLine.connect(process.port, "TX")
    (held,) = await tx.wait_outputs(1)
    assert held.message.body == "FOR LATER"
    await tx.close()
    assert process.terminate() == 0

    rows = audit_rows(process.data_dir)
    assert [brief(r) for r in rows] == [
        ("accepted", "CA", CA, "IAQ", "CA", 1, None, None),
        ("delivered", "CA", CA, "AM", "CA", 1, 1, "live"),
        ("delivered", "CA", CA, "IAR", "CA", 1, 2, "live"),
        # Taken by the switch, refused by the LESC: both are on record.
        ("accepted", "CA", CA, "IAQ", "CA", 2, None, None),
        ("rejected", "CA", CA, "IAQ", "CA", 2, None, ".05."),
        ("rejected", "CA", "TX0000000", "AM", "CA", 3, None, ".01."),
        ("delivered", "CA", CA, "ER", "CA", 2, 3, "live"),
        ("delivered", "CA", "CA", "ER", "CA", 3, 4, "live"),
        ("accepted", "CA", CA, "AM", "CA", 4, None, None),
        ("delivered", "CA", CA, "SM", "CA", 4, 5, "live"),
        ("delivered", "TX", "TX", "AM", "CA", 4, 1, "signon"),
    ]
    assert all(str(r["at"]).startswith("20") for r in rows)
    assert [brief(r)[:2] for r in audit_rows(process.data_dir, "--line", "TX")] == [
        ("delivered", "TX")
    ]
    rejected = audit_rows(process.data_dir, "--event", "rejected")
    assert [r["outcome"] for r in rejected][1] == ".01. SENDER ORI TX0000000 NOT ON LINE CA"
    assert len(audit_rows(process.data_dir, "--limit", "3")) == 3


def test_audit_text_output_and_errors(tmp_path: Path, process: GatewayProcess) -> None:
    missing = audit_cli(tmp_path / "nowhere")
    assert missing.exit_code == 1 and "no journal" in missing.stderr
    assert audit_cli(tmp_path, "--event", "bogus").exit_code == 2
    process.start()
    assert process.terminate() == 0
    done = audit_cli(process.data_dir)
    assert done.exit_code == 0 and done.stdout == ""


def test_since_an_age(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    data = journal_at(tmp_path, now - timedelta(hours=3), now - timedelta(hours=1),
                      now - timedelta(minutes=5))
    assert numbers(data, "2h") == [2, 3]
    assert numbers(data, "10m") == [3]
    assert numbers(data, "4h") == [1, 2, 3]
    assert numbers(data, "1m") == []


def test_since_compares_instants_across_zones(tmp_path: Path) -> None:
    data = journal_at(
        tmp_path,
        datetime(2026, 12, 1, 19, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 20, 3, tzinfo=UTC),
        datetime(2026, 12, 1, 20, 3, 0, 500000, tzinfo=UTC),
    )
    # 20:03 in New York is 01:03 UTC the next day; 15:03 there is 20:03 UTC.
    assert numbers(data, "2026-12-01T15:03:00-05:00") == [2, 3]
    assert numbers(data, "2026-12-01T20:03:00-05:00") == []
    assert numbers(data, "2026-12-01T20:03:00") == [2, 3]  # no zone: UTC
    assert numbers(data, "2026-12-01T20:03:00.000+00:00") == [2, 3]
    assert numbers(data, "2026-12-01T20:03:00.5Z") == [3]
    assert numbers(data, "2026-12-01T18:00:00-01:00") == [1, 2, 3]  # 19:00 UTC
    assert numbers(data, "2026-12-01T19:00:01-01:00") == [2, 3]


@pytest.mark.parametrize("since", ["garbage", "10", "2026-13-01", "-2h"])
def test_since_that_is_no_time_is_bad_usage(tmp_path: Path, since: str) -> None:
    data = journal_at(tmp_path, datetime(2026, 12, 1, tzinfo=UTC))
    done = audit_cli(data, "--since", since)
    assert done.exit_code == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"iaqgw: --since {since!r} is not a time: write an ISO time (UTC unless it names a "
        "zone: 2026-12-01T20:03:00-05:00) or an age (30s, 10m, 2h, 3d)"
    ]
    # tail reads --since with the same parser and says the same.
    tail = CliRunner().invoke(app, ["tail", "--since", since], input="")
    assert (tail.exit_code, tail.stderr) == (2, done.stderr)


# What a batch of five outputs to two lines, delivered, gives: (line, ori, mke, out_seq).
BATCH_DELIVERED = [("CA", CA, "AM", 1), ("CA", CA, "IAR", 2), ("CA", "CA", "SM", 3),
                   ("TX", "TX0000000", "AM", 1), ("TX", "TX0000000", "IAR", 2)]


def deliver_a_batch(location: Location) -> None:
    """Store the outputs of BATCH_DELIVERED in one batch and note each line's delivery."""
    at = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    journal = Journal(location)
    pending = [
        PendingOutput(line, None, mke, "LESC", dest, None, "BODY", at, 0, at)
        for line, mke, dest in (("CA", "AM", CA), ("TX", "AM", "TX0000000"), ("CA", "IAR", CA),
                                ("CA", "SM", "CA"), ("TX", "IAR", "TX0000000"))
    ]
    stored = journal.store_outputs([], pending, lambda out, seq: f"{out.mke} {seq}")
    for line in ("CA", "TX"):
        journal.note_delivered(
            delivery_records(at, line, [o for o in stored if o.line == line], "live"))
    journal.close()


def assert_batch_delivered(data_dir: Path) -> None:
    """The trail of deliver_a_batch: a row a line in the table, an entry an output."""
    db = connect(journal_of(data_dir))
    try:
        assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 2
        # The view gives an output a row, as the table of that name did.
        view = db.execute("SELECT line, ori, mke, out_seq FROM audit ORDER BY line, out_seq")
        assert view.fetchall() == BATCH_DELIVERED
    finally:
        db.close()
    assert [(r["line"], r["ori"], r["mke"], r["out_seq"])
            for r in audit_rows(data_dir)] == BATCH_DELIVERED
    assert [r["out_seq"] for r in audit_rows(data_dir, "--limit", "2")] == [1, 2]


def test_a_batch_delivered_is_a_row_a_line_and_an_entry_an_output(tmp_path: Path) -> None:
    deliver_a_batch(journal_of(tmp_path))
    assert_batch_delivered(tmp_path)


def test_a_journal_that_keeps_the_outputs_key_joins_its_trail_by_it(tmp_path: Path) -> None:
    location = tmp_path / "journal.sqlite3"
    # A journal made before round 15 of issue 13: its outputs keyed, no rowids in its trail.
    with closing(sqlite3.connect(location)) as db:
        db.executescript(KEYED_SCHEMA)
        db.execute("ALTER TABLE audit_log DROP COLUMN out_id")
        db.execute("ALTER TABLE audit_log DROP COLUMN last_id")
    deliver_a_batch(location)
    with closing(sqlite3.connect(location)) as db:
        assert db.execute("SELECT out_id, last_id FROM audit_log").fetchall() == [(None, None)] * 2
    assert_batch_delivered(tmp_path)


def test_a_journal_of_an_earlier_version_keeps_its_trail(tmp_path: Path) -> None:
    at = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    location = journal_of(tmp_path)
    journal_at(tmp_path, at, at)
    journal = Journal(location)
    accepted = AuditRecord(at, "accepted", "CA", CA, "IAQ", 7)
    journal.store_outputs([], [], lambda out, seq: "", [accepted])
    journal.close()
    # Back to the layout of an earlier version: one row an event in the table audit.
    db = connect(location)
    for statement in ("DROP VIEW audit", "ALTER TABLE audit_log RENAME TO audit",
                      *(f"ALTER TABLE audit DROP COLUMN {column}"
                        for column in ("last_seq", "out_id", "last_id", "in_id", "last_in_id"))):
        db.execute(statement)
    db.close()
    earlier = audit_rows(tmp_path)
    assert [(r["event"], r["in_seq"], r["out_seq"]) for r in earlier] == [
        ("delivered", None, 1), ("delivered", None, 2), ("accepted", 7, None)]

    Journal(location).close()
    db = connect(location)
    try:
        assert (relation_kind(db, "audit"), relation_kind(db, "audit_log")) == ("view", "table")
        assert db.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 3
    finally:
        db.close()
    assert audit_rows(tmp_path) == earlier


@given(st.lists(st.integers(1, 3), max_size=40), st.sampled_from(["live", "signon"]))
def test_delivery_records_cover_each_output_once(gaps: list[int], outcome: str) -> None:
    at = datetime(2026, 12, 3, tzinfo=UTC)
    seqs = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    outputs = [StoredOutput("CA", seq, "", f"M{seq}", f"D{seq}", None, 10 * seq) for seq in seqs]
    records = delivery_records(at, "CA", outputs, outcome)
    covered = [seq for r in records
               for seq in range(r.out_seq or 0, (r.last_seq or r.out_seq or 0) + 1)]
    assert covered == seqs
    # A record a run of consecutive numbers: as many as the gaps between them, plus one.
    assert len(records) == (sum(1 for gap in gaps[1:] if gap > 1) + 1 if gaps else 0)
    for r in records:
        assert (r.event, r.line, r.outcome, r.at) == ("delivered", "CA", outcome, at)
        # An output alone keeps its destination and key; a run reads them from its outputs.
        alone = r.last_seq is None
        assert (r.ori, r.mke) == ((f"D{r.out_seq}", f"M{r.out_seq}") if alone else (None, None))
        # And the rowids of its first and last outputs (the last, of a run only).
        assert (r.out_id, r.last_id) == (10 * (r.out_seq or 0),
                                         None if alone else 10 * (r.last_seq or 0))
