"""A failing third-party pipeline in a real gateway process (issue 9, SPEC.md §11).

The pipeline of tests/fixtures/abort_plugin is installed through the ``iaqgw.pipelines``
entry point group, as a distribution would be: the test writes its ``.dist-info`` next to the
module in a directory on the child's PYTHONPATH.
"""

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from messages import iaq
from test_metrics import scrape, value
from typer.testing import CliRunner

from formats.framing import encode_frame
from formats.message import format_input
from formats.notices import SM_UNABLE
from gateway.cli import app
from gateway.journal import Journal
from simulator.client import LineClient, Received

CA = "CA0000000"
PLUGIN = Path(__file__).parent / "fixtures" / "abort_plugin" / "iaqgw_poison.py"


def install_poison(site: Path) -> Path:
    """Install the failing pipeline under ``site`` as a distribution: module and dist-info."""
    info = site / "iaqgw_poison-0.1.dist-info"
    info.mkdir(parents=True)
    shutil.copy(PLUGIN, site / PLUGIN.name)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: iaqgw-poison\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[iaqgw.pipelines]\npoison = iaqgw_poison:pipeline\n")
    return site


@pytest.fixture
def poisoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayProcess]:
    """A gateway process (not started) that has the failing pipeline installed."""
    site = install_poison(tmp_path / "site")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    proc = GatewayProcess(tmp_path / "data", "--metrics-port", "0")
    yield proc
    proc.stop()


def zq(*dests: str, control: str) -> str:
    """An input for the failing pipeline."""
    return format_input("ZQ", CA, dests, "NAM/SMITH, JOHN.", control)


async def answers(client: LineClient, control: str, count: int) -> list[Received]:
    """The next ``count`` outputs with this control field, skipping any sent again."""
    got: list[Received] = []
    while len(got) < count:
        out = await client.recv()
        if out.message.control == control:
            got.append(out)
    return got


def failed_audit(data_dir: Path) -> list[dict[str, object]]:
    """``iaqgw audit --event failed`` as JSON records."""
    result = CliRunner().invoke(
        app, ["audit", "--data-dir", str(data_dir), "--event", "failed", "--json"]
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def failures(process: GatewayProcess, offset: int) -> list[dict[str, object]]:
    """``pipeline.failed`` log events from ``offset`` on."""
    return [e for e in process.events(offset) if e.get("event") == "pipeline.failed"]


async def test_a_failing_plugin_aborts_its_exchange_and_the_gateway_restarts(
    poisoned: GatewayProcess,
) -> None:
    poisoned.start()
    ca = await LineClient.connect("127.0.0.1", poisoned.port, "CA")
    tx = await LineClient.connect("127.0.0.1", poisoned.port, "TX")
    # One write, one read: the bad input between two good ones.
    read = [
        iaq(CA, arn="012345678", control="BEFORE"),
        zq("AX", "TX", control="BAD"),
        iaq(CA, arn="012345678", control="AFTER"),
    ]
    await ca.send_raw(b"".join(encode_frame(text) for text in read))
    outputs = await ca.recv_many(5)
    assert [(o.message.control, o.message.mke) for o in outputs] == [
        ("BEFORE", "AM"), ("BEFORE", "IAR"), ("BAD", "SM"), ("AFTER", "AM"), ("AFTER", "IAR"),
    ]
    assert outputs[2].message.sender == "NL0000000"
    assert outputs[2].message.body == f"{SM_UNABLE}\nDESTINATION AX"
    # The exchange with the other destination of the bad input is not aborted.
    forwarded = await tx.recv()
    assert (forwarded.message.mke, forwarded.message.control) == ("ZQ", "BAD")
    [event] = failures(poisoned, 0)
    assert event["level"] == "error" and event["error"] == "KeyError: 'ZQ TABLE'"
    assert (event["line"], event["mke"], event["in_seq"]) == ("CA", "ZQ", 2)
    assert event["control"] == "BAD" and event["dest"] == "AX"
    [started] = [e for e in poisoned.events() if e.get("event") == "gateway.started"]
    samples = await scrape(int(str(started["metrics_port"])))
    assert value(samples, "iaqgw_failed_exchanges_total", line="CA", mke="ZQ") == 1
    [record] = failed_audit(poisoned.data_dir)
    assert (record["line"], record["ori"], record["mke"], record["in_seq"]) == ("CA", CA, "ZQ", 2)
    assert record["outcome"] == "AX KeyError: 'ZQ TABLE'"
    await ca.close()
    await tx.close()

    # SIGKILL with a bad input journaled and not answered: as if killed right after the
    # journal write. The restart fails it and serves.
    poisoned.kill()
    journal = Journal(poisoned.data_dir / "journal.sqlite3")
    journal.record_lines(datetime.now(UTC), [("CA", [(zq("AX", control="KILLED"), None)])])
    journal.close()
    offset = poisoned.log_path.stat().st_size
    poisoned.start()
    assert [e["control"] for e in failures(poisoned, offset)] == ["KILLED"]
    ca = await LineClient.connect("127.0.0.1", poisoned.port, "CA")
    [notice] = await answers(ca, "KILLED", 1)
    assert notice.message.mke == "SM" and notice.message.body.startswith(SM_UNABLE)
    await ca.send(iaq(CA, arn="012345678", control="NEXT"))
    assert [o.message.mke for o in await answers(ca, "NEXT", 2)] == ["AM", "IAR"]
    await ca.close()

    # Killed and started again: the failed input is not run again.
    poisoned.kill()
    offset = poisoned.log_path.stat().st_size
    poisoned.start()
    ca = await LineClient.connect("127.0.0.1", poisoned.port, "CA")
    await ca.send(iaq(CA, arn="012345678", control="AGAIN"))
    assert [o.message.mke for o in await answers(ca, "AGAIN", 2)] == ["AM", "IAR"]
    await ca.close()
    assert failures(poisoned, offset) == []

    # A plain restart serves as well.
    assert poisoned.terminate() == 0
    poisoned.start()
    ca = await LineClient.connect("127.0.0.1", poisoned.port, "CA")
    await ca.send(iaq(CA, arn="012345678", control="PLAIN"))
    assert [o.message.mke for o in await answers(ca, "PLAIN", 2)] == ["AM", "IAR"]
    await ca.close()
    assert failures(poisoned, offset) == []
    assert [r["in_seq"] for r in failed_audit(poisoned.data_dir)] == [2, 4]
