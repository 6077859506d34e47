"""``iaqgw audit`` on the PostgreSQL store (``--store`` or ``IAQGW_STORE``): the audit trail
of every instance sharing the database, with the same filters and output as on SQLite.

Importing a test function makes pytest collect it here too; the fixture below points the
gateway and every ``iaqgw`` command of those tests at a fresh database.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_audit import (  # noqa: F401
    test_a_batch_delivered_is_a_row_a_line_and_an_entry_an_output,
    test_a_journal_of_an_earlier_version_keeps_its_trail,
    test_audit_trail_of_accepted_rejected_and_delivered,
    test_since_an_age,
    test_since_compares_instants_across_zones,
    test_since_that_is_no_time_is_bad_usage,
)
from test_audit_runs import (  # noqa: F401
    test_a_batch_accepted_is_a_row_a_run_and_an_entry_an_input,
    test_an_input_alone_keeps_a_row_of_its_own,
)
from typer.testing import CliRunner

from gateway.cli import app
from gateway.journal import AuditRecord, Journal

# Every gateway and command of each test here on one fresh PostgreSQL database.
pytestmark = pytest.mark.usefixtures("shared_store")


def test_every_instances_records_in_one_trail(
    tmp_path: Path, shared_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2026, 12, 1, 20, 3, tzinfo=UTC)
    for instance, line in (("a", "CA"), ("b", "TX"), ("a", "CA")):
        journal = Journal(shared_store, instance)
        journal.note_delivered([AuditRecord(at, "delivered", line, f"{line}0000000", "AM",
                                            out_seq=1)])
        journal.close()
    monkeypatch.delenv("IAQGW_STORE")
    # --store names the database; --data-dir has no journal and is not read.
    done = CliRunner().invoke(app, ["audit", "--store", shared_store, "--data-dir",
                                    str(tmp_path / "nowhere"), "--json"])
    assert done.exit_code == 0, done.output
    assert [json.loads(row)["line"] for row in done.stdout.splitlines()] == ["CA", "TX", "CA"]
    text = CliRunner().invoke(app, ["audit", "--store", shared_store, "--line", "TX"])
    assert text.stdout.splitlines() == [
        "2026-12-01T20:03:00+00:00  delivered  TX  TX0000000  AM   in -- "
        "     -  out      1"
    ]


def test_an_unreachable_store_fails_in_one_line(tmp_path: Path) -> None:
    url = "postgresql://iaqgw:SECRET@127.0.0.1:1/nothing"
    done = CliRunner().invoke(app, ["audit", "--store", url])
    assert done.exit_code == 1
    [message] = done.stderr.splitlines()
    assert message.startswith("iaqgw: --store: ")
    assert "SECRET" not in message
