"""Held IARs under faults (issue 12, item 2): a realistic-timing IAQ acknowledged by one life of
a real gateway process is answered by a later one, exactly once, however the SIGKILLs fall.

``iaqgw serve --lesc-timing realistic`` with every index's research fixed at a few seconds, so
the kills land between acknowledgements and releases, and during releases.
"""

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from messages import field_lines, iaq
from reliability_tools import LoadLine, Output, record_figure

from formats.message import parse_input

CA = "CA0000000"
RESEARCH_S = 2.0
ACK = "LESC ACKNOWLEDGES RECEIPT OF IAQ"


@pytest.fixture
def process(tmp_path: Path) -> Iterator[GatewayProcess]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IAQGW_LESC_TIMING_FIXED", str(RESEARCH_S))
        env.setenv("IAQGW_TECHNICIAN_DELAY", "off")
        proc = GatewayProcess(tmp_path / "data", "--lesc-timing", "realistic")
        yield proc
        proc.stop()


def accepted_iaqs(data_dir: Path) -> dict[str, int]:
    """Control field -> input sequence number of every IAQ the gateway journaled."""
    db = sqlite3.connect(data_dir / "journal.sqlite3")
    try:
        rows = db.execute("SELECT in_seq, text FROM inputs WHERE line = 'CA'").fetchall()
    finally:
        db.close()
    return {parse_input(text).control or "": seq for seq, text in rows}


def released(data_dir: Path) -> list[float | None]:
    """released_at of every held answer."""
    db = sqlite3.connect(data_dir / "journal.sqlite3")
    try:
        return [row[0] for row in db.execute("SELECT released_at FROM lesc_held")]
    finally:
        db.close()


async def test_killed_between_acknowledgement_and_release(process: GatewayProcess) -> None:
    process.start()
    line = await LoadLine.connect(process.port, "CA")
    sent_at = time.monotonic()
    line.send_nowait([iaq(CA, control="K1")])
    while not line.outputs:
        await asyncio.wait_for(line.arrived.wait(), 10)
        line.arrived.clear()
    [ack] = line.outputs
    assert ack.message.mke == "AM" and ACK in ack.message.body
    process.kill()
    await asyncio.wait_for(line.closed.wait(), 10)
    await line.close()
    assert released(process.data_dir) == [None]

    process.start()
    line = await LoadLine.connect(process.port, "CA")
    deadline = time.monotonic() + 20
    while not any(out.message.mke == "IAR" for out in line.outputs):
        assert time.monotonic() < deadline, "no IAR after the restart"
        await asyncio.sleep(0.1)
    await asyncio.sleep(RESEARCH_S)  # time for a second copy, were there one
    await line.close()
    assert process.terminate() == 0
    # The acknowledgement may come again (the kill beat its ACK): the same output, number 1.
    assert all(out.text == ack.text for out in line.outputs if out.seq == 1)
    [iar] = [out for out in line.outputs if out.seq != 1]
    assert iar.seq == 2 and iar.message.in_seq == 1 and iar.message.control == "K1"
    assert field_lines(iar.message.body)["STS"] == "LPR"
    # Every index searched is listed, as the life that acknowledged the IAQ found them.
    listed = field_lines(iar.message.body)["IDX"].split(", ")
    indices = [entry.split()[0] for entry in listed]
    assert indices == ["CIS", "NCIC", "III", "SEVIS", "IDENT", "NSEERS"]
    # Due the research time after the gateway took the IAQ, so after it was sent (the
    # gateway's wall clock against this process's monotonic one: 10 ms for their drift).
    assert iar.at - sent_at >= RESEARCH_S - 0.01
    assert None not in released(process.data_dir)


async def life(process: GatewayProcess, rng: random.Random, sent: list[str],
               received: list[Output]) -> int:
    """One life: IAQs at 10/s for a second or two, then SIGKILL at a random moment.

    Returns how many IAQs this life acknowledged but did not answer (held at the kill).
    """
    process.start()
    line = await LoadLine.connect(process.port, "CA")
    start = time.monotonic()
    while time.monotonic() - start < rng.uniform(1.0, 2.0):
        control = f"Q{len(sent)}"
        line.send_nowait([iaq(CA, control=control)])
        sent.append(control)
        await asyncio.sleep(0.1)
    await asyncio.sleep(rng.uniform(0.0, 2 * RESEARCH_S))
    process.kill()
    await asyncio.wait_for(line.closed.wait(), 10)
    received.extend(line.outputs)
    await line.close()
    acknowledged = {o.message.control for o in line.outputs if o.message.mke == "AM"}
    answered = {o.message.control for o in line.outputs if o.message.mke == "IAR"}
    return len(acknowledged - answered)


async def test_each_held_iar_sent_once_across_sigkills(process: GatewayProcess) -> None:
    rng = random.Random(12)
    sent: list[str] = []
    received: list[Output] = []
    held_at_kills = 0
    for _ in range(3):
        held_at_kills += await life(process, rng, sent, received)
    accepted = accepted_iaqs(process.data_dir)
    process.start()
    line = await LoadLine.connect(process.port, "CA")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answered = {o.message.control for o in received + line.outputs if o.message.mke == "IAR"}
        if set(accepted) <= answered:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    received.extend(line.outputs)
    await line.close()
    assert process.terminate() == 0

    assert len(accepted) > 15
    assert held_at_kills > 0  # the kills fell between acknowledgements and releases
    texts: dict[int, str] = {}
    iars: dict[int, str] = {}
    for out in received:
        # Sent again after a restart only as the same output (same number, same text).
        assert texts.setdefault(out.seq, out.text) == out.text
        if out.message.mke == "IAR":
            iars[out.seq] = out.message.control or ""
    assert sorted(texts) == list(range(1, len(texts) + 1))
    # One IAR per accepted IAQ: each held answer was released once.
    assert sorted(iars.values()) == sorted(accepted)
    assert None not in released(process.data_dir)
    record_figure("held_iars_under_faults", kills=3, iaqs_accepted=len(accepted),
                  held_at_kills=held_at_kills, iars=len(iars), outputs=len(texts))
