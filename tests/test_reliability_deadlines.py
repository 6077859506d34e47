"""Deadlines under faults (issue 6): hit confirmations keep their deadlines across SIGKILLs of
a real gateway process. The margins are set so that each PENDING YR falls due three seconds
after its YQ, and the kills land while YQs arrive and PENDINGs fall due."""

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from lesc_support import yq
from messages import field_lines
from reliability_tools import LoadLine, Output, record_figure

from formats.message import parse_input

TX = "TX0000000"
WINDOWS = {"U": timedelta(minutes=10), "R": timedelta(hours=1)}
SETTINGS = {
    "IAQGW_TECHNICIAN_DELAY": "off",
    "IAQGW_HIT_MARGIN_URGENT": "597",
    "IAQGW_HIT_MARGIN_ROUTINE": "3597",
}


@pytest.fixture
def process(tmp_path: Path) -> Iterator[GatewayProcess]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in SETTINGS.items():
            env.setenv(name, value)
        proc = GatewayProcess(tmp_path / "data")
        yield proc
        proc.stop()


async def life(process: GatewayProcess, rng: random.Random, sent: dict[str, tuple[float, str]],
               seconds: float, received: list[Output]) -> None:
    """One life of the gateway: YQs at 10/s from TX, then SIGKILL at a random moment."""
    process.start()
    line = await LoadLine.connect(process.port, "TX")
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        control = f"H{len(sent)}"
        pri = rng.choice("UR")
        # LOPES has LOPEZ's Soundex: a technician must look, so the case stays open.
        line.send_nowait([yq(TX, control=control, pri=pri, oca=control, nam="LOPES, CARLOS")])
        sent[control] = (time.monotonic(), pri)
        await asyncio.sleep(0.1)
    await asyncio.sleep(rng.uniform(0.0, 3.2))
    process.kill()
    await asyncio.wait_for(line.closed.wait(), 10)
    received.extend(line.outputs)
    await line.close()


def accepted_yqs(data_dir: Path) -> dict[str, int]:
    """Control field -> input sequence number of every YQ the gateway journaled."""
    db = sqlite3.connect(data_dir / "journal.sqlite3")
    rows = db.execute("SELECT in_seq, text FROM inputs WHERE line = 'TX'").fetchall()
    db.close()
    return {parse_input(text).control or "": seq for seq, text in rows}


async def test_no_deadline_missed_across_sigkills(process: GatewayProcess) -> None:
    rng = random.Random(6)
    sent: dict[str, tuple[float, str]] = {}
    received: list[Output] = []
    kills = 3
    for _ in range(kills):
        await life(process, rng, sent, rng.uniform(1.0, 2.0), received)
    accepted = accepted_yqs(process.data_dir)
    process.start()
    line = await LoadLine.connect(process.port, "TX")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answered = {o.message.control for o in received + line.outputs if o.message.mke == "YR"}
        if set(accepted) <= answered:
            break
        await asyncio.sleep(0.2)
    received.extend(line.outputs)
    await line.close()
    assert process.terminate() == 0

    assert len(accepted) > 15
    first_yr: dict[str, Output] = {}
    texts: dict[int, str] = {}
    for out in received:
        # Sent again after a restart only as the same output (same number, same text).
        assert texts.setdefault(out.seq, out.text) == out.text
        if out.message.mke == "YR":
            first_yr.setdefault(out.message.control or "", out)
    assert sorted(texts) == list(range(1, len(texts) + 1))
    assert set(first_yr) == set(accepted)
    slowest = 0.0
    for control, out in first_yr.items():
        fields = field_lines(out.message.body)
        assert fields["STA"] == "PENDING" and len(fields["RTM"]) == 4
        # Header line 2 is the YQ's; line 3 (the YR's clock) is inside the priority window.
        assert out.message.in_seq == accepted[control] % 100_000
        at, pri = sent[control]
        assert out.message.out_time - out.message.in_time <= WINDOWS[pri]
        slowest = max(slowest, out.at - at)
    record_figure("deadlines_under_faults", kills=kills, yqs_accepted=len(accepted),
                  slowest_first_yr_s=round(slowest, 2))
