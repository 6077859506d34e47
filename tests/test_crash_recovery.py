"""Nothing accepted is lost: SIGKILL and restart of a real gateway process (issue 2)."""

import asyncio
import random
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from messages import am, field_lines, iaq

from formats.output import parse_output
from gateway.journal import Journal
from simulator.client import LineClient, Received

CA = "CA0000000"


async def drain(client: LineClient, quiet: float = 1.0) -> list[Received]:
    """Every output until the line has been quiet for ``quiet`` seconds."""
    got = []
    try:
        while True:
            got.append(await client.recv(timeout=quiet))
    except (TimeoutError, ConnectionError):
        return got


async def durable_ack(journal: Path, line: str, seq: int) -> None:
    """Wait until the gateway has written the line's acknowledgement into its journal file."""
    db = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
    try:
        async with asyncio.timeout(10):
            while True:
                row = db.execute(
                    "SELECT last_ack FROM line_state WHERE line = ?", (line,)
                ).fetchone()
                if row is not None and row[0] >= seq:
                    return
                await asyncio.sleep(0.01)
    finally:
        db.close()


async def test_unacknowledged_and_stored_outputs_survive_sigkill(
    process: GatewayProcess,
) -> None:
    process.start()
    ca = await LineClient.connect("127.0.0.1", process.port, "CA", auto_ack=False)
    for n in range(20):
        await ca.send(iaq(CA, arn="012345678", control=f"C{n}"))
    for n in range(5):
        await ca.send(am(CA, "TX", text=f"HELD {n}"))
    before = await ca.recv_many(45)
    assert [o.seq for o in before] == list(range(1, 46))
    await ca.ack(10)
    await durable_ack(process.data_dir / "journal.sqlite3", "CA", 10)
    process.kill()
    await ca.close()

    process.start()
    ca = await LineClient.connect("127.0.0.1", process.port, "CA", auto_ack=False)
    assert ca.last_ack == 10
    again = await ca.recv_many(35)
    assert [o.seq for o in again] == list(range(11, 46))
    assert [o.text for o in again] == [o.text for o in before[10:]]
    tx = await LineClient.connect("127.0.0.1", process.port, "TX")
    held = await tx.recv_many(5)
    assert [o.message.body for o in held] == [f"HELD {n}" for n in range(5)]
    assert [o.seq for o in held] == [1, 2, 3, 4, 5]
    # Sequence numbers go on without a gap after the restart.
    await ca.send(iaq(CA, arn="012345678"))
    after = await ca.recv_many(2)
    assert [o.seq for o in after] == [46, 47]
    await ca.close()
    await tx.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sigkill_mid_traffic_loses_nothing_accepted(
    process: GatewayProcess, seed: int
) -> None:
    process.start()
    ca = await LineClient.connect("127.0.0.1", process.port, "CA")
    received: list[Received] = []
    sent = 0

    async def send_forever() -> None:
        nonlocal sent
        while True:
            await ca.send(iaq(CA, arn="012345678", control=f"K{sent}"))
            sent += 1
            if sent % 20 == 0:
                await asyncio.sleep(0.001)

    async def read_forever() -> None:
        while True:
            received.append(await ca.recv(timeout=30))

    sender = asyncio.create_task(send_forever())
    reader = asyncio.create_task(read_forever())
    await asyncio.sleep(random.Random(seed).uniform(0.2, 0.8))
    process.kill()
    for task in (sender, reader):
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await ca.close()

    process.start()
    ca = await LineClient.connect("127.0.0.1", process.port, "CA")
    received.extend(await drain(ca))
    await ca.close()

    # Per-line output sequence: 1..N with no gap; duplicates only from redelivery.
    seqs = sorted({o.seq for o in received})
    assert seqs == list(range(1, len(seqs) + 1))
    by_seq: dict[int, str] = {}
    for o in received:
        assert by_seq.setdefault(o.seq, o.text) == o.text
    # Every input the gateway journaled got its acknowledgement and its IAR.
    db = sqlite3.connect(process.data_dir / "journal.sqlite3")
    journaled = db.execute("SELECT COUNT(*) FROM inputs WHERE line = 'CA'").fetchone()[0]
    unprocessed = db.execute("SELECT COUNT(*) FROM inputs WHERE processed = 0").fetchone()[0]
    db.close()
    kinds: dict[str, set[str]] = defaultdict(set)
    for text in by_seq.values():
        o = parse_output(text)
        kinds[o.control or ""].add(o.mke)
    assert journaled > 0 and unprocessed == 0
    assert len(kinds) == journaled
    assert all(k == {"AM", "IAR"} for k in kinds.values())


async def test_journaled_but_unprocessed_input_is_answered_on_start(
    tmp_path: Path, process: GatewayProcess
) -> None:
    # A crash between journaling an input and storing its outputs leaves it unprocessed.
    journal = Journal(process.data_dir / "journal.sqlite3")
    journal.record_lines(datetime.now(UTC), [("CA", [(iaq(CA, arn="012345678"), None)])])
    journal.close()
    process.start()
    ca = await LineClient.connect("127.0.0.1", process.port, "CA")
    ack, iar = await ca.recv_many(2)
    assert ack.message.mke == "AM" and ack.message.in_seq == 1
    assert field_lines(iar.message.body)["STS"] == "LPR"
    await ca.close()
    assert any(e.get("event") == "journal.recovered" for e in process.events())
