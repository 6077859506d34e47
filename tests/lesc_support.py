"""Helpers for the LESC tests: gateways on a manual clock with captured logs, message builders."""

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import gateway_settings
from messages import field_lines
from structlog.testing import CapturingLogger

from formats.message import format_fields, format_input
from gateway.app import Gateway
from gateway.clock import ManualClock
from responders.lesc.service import LescRuntime
from simulator.client import LineClient, Received

# A Monday afternoon in fiscal year 2026.
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
LOPEZ_NIC = "I123456789"  # LOPEZ, CARLOS 19750505 M, REM, DEPORTED FELON, A033333333
PEREZ_NIC = "I987654321"  # PEREZ, ANA 19920909 F, OOS, ABSCONDER, A044444444
RIVERA_NIC = "I555000111"  # RIVERA, JOSE: ABSCONDER entry, but now LPR (cleared)
HADDAD_NIC = "I222333444"  # HADDAD, OMAR 19790909 M, OOS, NSEERS VIOLATOR


def yq(
    sender: str,
    *dests: str,
    control: str | None = None,
    **fields: str | None,
) -> str:
    """A YQ to the LESC for LOPEZ, CARLOS; fields override (None removes one)."""
    values: dict[str, str] = {
        "RTY": "WP", "RNO": "1", "PRI": "U", "OCA": "CASE-1", "NIC": LOPEZ_NIC,
        "NAM": "LOPEZ, CARLOS", "DOB": "19750505", "SEX": "M",
    }  # fmt: skip
    for tag, value in fields.items():
        if value is None:
            values.pop(tag.upper(), None)
        else:
            values[tag.upper()] = value
    return format_input("YQ", sender, dests or ("VTINS07S0",), format_fields(values), control)


def lesc_of(gateway: Gateway) -> LescRuntime:
    """The LESC's runtime in a gateway: its casebook and its timed actions."""
    runtime = gateway.services.runtime("lesc")
    assert isinstance(runtime, LescRuntime)
    return runtime


def qw(sender: str, nam: str, dob: str, sex: str | None = None) -> str:
    """A QW to NCIC."""
    values = {"NAM": nam, "DOB": dob}
    if sex is not None:
        values["SEX"] = sex
    return format_input("QW", sender, ["NCIC"], format_fields(values))


def fields_of(out: Received) -> dict[str, str]:
    """The ``TAG/value.`` lines of an output."""
    return field_lines(out.message.body)


class Lesc:
    """Gateways on a manual clock with captured logs, and the lines signed on to them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.clock = ManualClock(START)
        self.logger = CapturingLogger()
        self.gateways: list[Gateway] = []
        self.clients: list[LineClient] = []

    async def start(self, clock: ManualClock | None = None, **overrides: Any) -> Gateway:
        """Start a gateway on the shared data directory (technician off unless told)."""
        overrides.setdefault("technician_delay", "off")
        overrides.setdefault("queue_poll", 0.05)
        log = structlog.wrap_logger(
            self.logger,
            processors=[structlog.processors.add_log_level],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        )
        gateway = Gateway(
            gateway_settings(self.tmp_path, **overrides), clock=clock or self.clock, log=log
        )
        await gateway.start()
        self.gateways.append(gateway)
        return gateway

    async def connect(self, gateway: Gateway, line: str, **kwargs: Any) -> LineClient:
        """Sign a line on."""
        client = await LineClient.connect("127.0.0.1", gateway.port, line, **kwargs)
        self.clients.append(client)
        return client

    async def wait_open(self, gateway: Gateway, count: int) -> None:
        """Wait until the gateway holds ``count`` open cases (it answers inputs on its own)."""
        for _ in range(500):
            if lesc_of(gateway).casebook.open_count() == count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{lesc_of(gateway).casebook.open_count()} open cases, not {count}")

    def events(self, name: str) -> list[dict[str, Any]]:
        """Captured log events with this name, with their level."""
        return [call.kwargs for call in self.logger.calls if call.kwargs.get("event") == name]

    async def advance(self, gateway: Gateway, delta: timedelta) -> None:
        """Move the gateway's manual clock and have it sweep at once."""
        assert isinstance(gateway.clock, ManualClock)
        gateway.clock.advance(delta)
        gateway.scheduler.nudge()
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Close every client and stop every gateway."""
        for client in self.clients:
            await client.close()
        for gateway in self.gateways:
            await gateway.stop()


@pytest.fixture(name="lesc")
async def lesc_fixture(tmp_path: Path) -> AsyncIterator[Lesc]:
    """The LESC test harness for one test."""
    harness = Lesc(tmp_path)
    yield harness
    await harness.close()


def agency(gateway: Gateway, line: str, n: int = 0) -> str:
    """The n-th ordinary agency ORI on a line (not its control or ICE ORI)."""
    return [o.ori for o in gateway.oris.by_line(line) if not o.ori.endswith("0000")][n]


async def nothing_more(client: LineClient, wait: float = 0.3) -> bool:
    """True when the line gets no further output within ``wait`` seconds."""
    try:
        out = await client.recv(timeout=wait)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected output:\n{out.text}")


def iaqgw(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``iaqgw`` command line as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60
    )


async def iaqgw_async(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line off the event loop, so the gateway in this process keeps going."""
    return await asyncio.to_thread(iaqgw, *args)
