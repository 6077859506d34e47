"""What every TCP line sends in one loop iteration is journaled and answered as one batch
(gateway/lines.py, ``LineDesk.answer_waiting``): two commits an iteration, not two a line."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest
from messages import am

from gateway.app import Gateway
from gateway.store import Transaction
from gateway.switch import MAX_BATCH
from simulator.client import LineClient, Received

CA, TX, NY = "CA0000000", "TX0000000", "NY0000000"


async def test_inputs_of_several_lines_in_one_iteration_are_one_batch(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    gateway = await start_gateway()
    ca = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    tx = await LineClient.connect("127.0.0.1", gateway.port, "TX")
    # As two sessions' reads of one loop iteration hand their frames over.
    gateway.desk.inputs("CA", [(am(CA, "TX", text="FROM CA 1"), None),
                               (am(CA, "TX", text="FROM CA 2"), None)])
    gateway.desk.inputs("TX", [(am(TX, "CA", text="FROM TX"), None)])
    assert [o.message.body for o in await tx.recv_many(2)] == ["FROM CA 1", "FROM CA 2"]
    assert (await ca.recv()).message.body == "FROM TX"
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        rows = db.execute("SELECT line, in_seq, received_at FROM inputs ORDER BY id").fetchall()
    # Each line numbered in order, and one clock reading for the batch.
    assert [(line, seq) for line, seq, _ in rows] == [("CA", 1), ("CA", 2), ("TX", 1)]
    assert len({at for _, _, at in rows}) == 1
    await ca.close()
    await tx.close()


async def test_a_journal_fault_closes_the_sessions_of_its_batch_and_the_switch_goes_on(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    gateway = await start_gateway()
    ca = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    tx = await LineClient.connect("127.0.0.1", gateway.port, "TX")
    # A real fault of the journal file: its inputs table is gone.
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        db.execute("ALTER TABLE inputs RENAME TO inputs_gone")
    gateway.desk.inputs("CA", [(am(CA, "TX", text="LOST"), None)])
    gateway.desk.inputs("TX", [(am(TX, "CA", text="LOST"), None)])
    assert await ca.closed()
    assert await tx.closed()
    # The switch still signs lines on: the process and the other lines go on.
    ny = await LineClient.connect("127.0.0.1", gateway.port, "NY")
    await ny.heartbeat()
    async with asyncio.timeout(10):
        while ny.heartbeat_answers == 0:
            await asyncio.sleep(0.01)
    await ny.close()


async def test_a_large_iteration_is_answered_in_parts_of_max_batch_inputs(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    gateway = await start_gateway()
    tx = await LineClient.connect("127.0.0.1", gateway.port, "TX")
    count = MAX_BATCH + 44
    gateway.desk.inputs("CA", [(am(CA, "TX", text=f"CA {n}"), None) for n in range(count - 4)])
    gateway.desk.inputs("NY", [(am(NY, "TX", text=f"NY {n}"), None) for n in range(4)])
    got = await tx.recv_many(count)
    assert [o.message.body for o in got] == (
        [f"CA {n}" for n in range(count - 4)] + [f"NY {n}" for n in range(4)]
    )
    assert [o.seq for o in got] == list(range(1, count + 1))
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        rows = db.execute("SELECT received_at FROM inputs ORDER BY id").fetchall()
    # Two journal transactions: the first MAX_BATCH inputs, then the rest.
    stamps = [at for (at,) in rows]
    assert len(set(stamps[:MAX_BATCH])) == 1
    assert len(set(stamps[MAX_BATCH:])) == 1
    assert stamps[0] != stamps[-1]
    await tx.close()


class Delivered(NamedTuple):
    """A gateway with CA's first message delivered to TX (which acknowledges only when told)
    and every flush of it done, and its journal's commits from then on."""

    gateway: Gateway
    tx: LineClient
    first: Received
    commits: list[int]


@pytest.fixture
async def delivered(
    start_gateway: Callable[..., Awaitable[Gateway]], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Delivered]:
    gateway = await start_gateway()
    tx = await LineClient.connect("127.0.0.1", gateway.port, "TX", auto_ack=False)
    gateway.desk.inputs("CA", [(am(CA, "TX", text="FIRST"), None)])
    first = await tx.recv()
    await asyncio.sleep(0.2)
    yield Delivered(gateway, tx, first, count_commits(gateway, monkeypatch))
    await tx.close()


async def test_a_flush_asked_for_before_the_iterations_inputs_is_written_by_their_transaction(
    delivered: Delivered, tmp_path: Path
) -> None:
    gateway, tx, first, commits = delivered
    # One pass of the loop: an acknowledgement whose flush is asked for, then CA's input read.
    gateway.journal.acknowledge("TX", first.seq)
    gateway.flush_soon()
    gateway.desk.inputs("CA", [(am(CA, "TX", text="SECOND"), None)])
    assert (await tx.recv()).message.body == "SECOND"
    await asyncio.sleep(0.2)
    # The input journaled (with the acknowledgement), its outputs stored, their delivery
    # records flushed: no commit of the acknowledgement alone before them.
    assert commits == [1, 1, 1]
    assert last_ack(tmp_path, "TX") == first.seq


async def test_acknowledgements_alone_are_written_in_the_pass_that_reads_them(
    delivered: Delivered, tmp_path: Path
) -> None:
    gateway, _, first, commits = delivered
    gateway.desk.acknowledge("TX", first.seq)
    # The desk's pass: one loop iteration, no second one for the flush.
    await asyncio.sleep(0)
    assert commits == [1]
    assert last_ack(tmp_path, "TX") == first.seq


def last_ack(tmp_path: Path, line: str) -> int:
    """The line's last acknowledged output as the journal file holds it."""
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        row = db.execute("SELECT last_ack FROM line_state WHERE line = ?", (line,)).fetchone()
    return int(row[0])


def count_commits(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The journal's commits from now on, one entry each (nested blocks join the outer one)."""
    commits: list[int] = []
    real = gateway.journal.transaction
    depth = 0

    @contextmanager
    def counted() -> Iterator[Transaction]:
        nonlocal depth
        depth += 1
        try:
            with real() as tx:
                yield tx
        finally:
            depth -= 1
        if depth == 0:
            commits.append(1)

    monkeypatch.setattr(gateway.journal, "transaction", counted)
    return commits
