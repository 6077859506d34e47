"""A third party's service in a real gateway process (issue 10, SPEC.md §12).

The package in tests/fixtures/zz_plugin is installed as a distribution would be: the test
writes its ``.dist-info`` (entry point group ``iaqgw.services``) next to it in a directory on
the child's PYTHONPATH. It brings destination ZZ, message key ZQ, an ORI only the gateway
sends as, state in the switch's store, a gauge and a command; gateway/ and routing/ know
none of it.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from messages import field_lines, iaq
from test_metrics import scrape, value

from formats.framing import encode_frame
from formats.message import format_input
from formats.notices import parse_er_body
from simulator.client import LineClient

CA = "CA0000000"
ZZ_ORI = "CAZZZZ000"
PACKAGE = Path(__file__).parent / "fixtures" / "zz_plugin" / "iaqgw_zz"


def install_zz(site: Path) -> Path:
    """Install the ZZ service under ``site`` as a distribution: package and dist-info."""
    shutil.copytree(PACKAGE, site / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    info = site / "iaqgw_zz-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: iaqgw-zz\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[iaqgw.services]\nzz = iaqgw_zz.service:service\n")
    return site


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ZZ service installed, on the PYTHONPATH of every child process."""
    installed = install_zz(tmp_path / "site")
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(filter(None, [str(installed), os.environ.get("PYTHONPATH")])),
    )
    return installed


@pytest.fixture
def zz_gateway(tmp_path: Path, site: Path) -> Iterator[GatewayProcess]:
    """A gateway process (not started) with the ZZ service installed and metrics on."""
    proc = GatewayProcess(tmp_path / "data", "--metrics-port", "0")
    yield proc
    proc.stop()


def zq(sender: str, nam: str | None, control: str) -> str:
    """A ZQ to ZZ."""
    return format_input("ZQ", sender, ["ZZ"], f"NAM/{nam}." if nam else "REM/NO NAME.", control)


def iaqgw(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line as its own process (with the child's PYTHONPATH)."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60
    )


async def test_a_plugin_adds_a_destination_a_message_key_state_a_gauge_and_a_command(
    zz_gateway: GatewayProcess,
) -> None:
    zz_gateway.start()
    ca = await LineClient.connect("127.0.0.1", zz_gateway.port, "CA")
    # One read: the second ZQ sees the first one's count before either is stored.
    read = [
        zq(CA, "SMITH, JOHN", "Z1"),
        zq(CA, "DOE, JANE", "Z2"),
        zq(CA, None, "Z3"),
        iaq(CA, arn="012345678", control="LESC"),
    ]
    await ca.send_raw(b"".join(encode_frame(text) for text in read))
    outputs = await ca.recv_many(5)
    assert [(o.message.control, o.message.mke) for o in outputs] == [
        ("Z1", "ZR"), ("Z2", "ZR"), ("Z3", "ER"), ("LESC", "AM"), ("LESC", "IAR"),
    ]
    first, second, error = outputs[:3]
    assert first.message.sender == ZZ_ORI and first.message.dest == CA
    assert field_lines(first.message.body) == {"NAM": "SMITH, JOHN", "CNT": "1"}
    assert field_lines(second.message.body) == {"NAM": "DOE, JANE", "CNT": "2"}
    assert parse_er_body(error.message.body)[:2] == (".14.", "NAM/ MISSING")
    # The service's ORI is the gateway's alone, though it is on line CA.
    await ca.send(zq(ZZ_ORI, "SMITH, JOHN", "FAKE"))
    refused = await ca.recv()
    assert refused.message.mke == "ER"
    assert parse_er_body(refused.message.body)[:2] == (
        ".01.", f"SENDER ORI {ZZ_ORI} IS RESERVED FOR THE GATEWAY",
    )
    [started] = [e for e in zz_gateway.events() if e.get("event") == "gateway.started"]
    samples = await scrape(int(str(started["metrics_port"])))
    assert value(samples, "iaqgw_zz_queries") == 2
    await ca.close()

    # The state is the switch's store: it outlives the process.
    assert zz_gateway.terminate() == 0
    zz_gateway.start()
    ca = await LineClient.connect("127.0.0.1", zz_gateway.port, "CA")
    await ca.send(zq(CA, "ROE, RICHARD", "Z4"))
    answer = await ca.recv()
    assert field_lines(answer.message.body)["CNT"] == "3"
    await ca.close()

    counted = iaqgw("zz-count", "--data-dir", str(zz_gateway.data_dir))
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines() == [f"{CA} 3"]


def test_help_lists_the_plugins_commands_beside_the_lescs(site: Path) -> None:
    result = iaqgw("--help")
    assert result.returncode == 0, result.stderr
    for command in ("zz-count", "queue", "stats", "serve"):
        assert f" {command} " in result.stdout
