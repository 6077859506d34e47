"""CJIS audit trail (issue 6): every accepted or rejected input and every delivery leaves a
record in the journal that survives restarts; ``iaqgw audit`` prints it."""

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from gateway_process import GatewayProcess
from messages import am, iaq
from reliability_tools import LoadLine

CA = "CA0000000"


def audit_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``iaqgw audit`` on a data directory."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, check=False,
    )


def audit_rows(data_dir: Path, *args: str) -> list[dict[str, object]]:
    """Audit records as JSON objects."""
    done = audit_cli(data_dir, "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def wait_for_rows(data_dir: Path, count: int) -> None:
    """Poll the journal until it holds ``count`` audit records."""
    for _ in range(500):
        db = sqlite3.connect(data_dir / "journal.sqlite3")
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
    assert missing.returncode == 1 and "no journal" in missing.stderr
    assert audit_cli(tmp_path, "--event", "bogus").returncode == 2
    process.start()
    assert process.terminate() == 0
    done = audit_cli(process.data_dir)
    assert done.returncode == 0 and done.stdout == ""
