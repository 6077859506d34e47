"""The gateway's parts work with the few collaborators they are given (issue 10, item 3).

A TCP session needs only its SessionHost, never the Gateway; the journal numbers and stores
what the caller renders; outputs for a line homed on another instance go to the bus's outbox
in the transaction that stores the rest, by the bus's decision, not the journal's.
"""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from formats.line_protocol import SignOnAccepted, SignOnRefused, SignOnRequest
from formats.output import parse_output
from gateway.bus import Homes
from gateway.bus.store import BusStore
from gateway.journal import FAILED, PROCESSED, Journal, PendingOutput, StoredOutput
from gateway.outputs import Outputs, render_output
from gateway.session import LineSession, Peer, SessionSettings, SignOnAnswer
from simulator.client import LineClient, SignOnRejected

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CA = "CA0000000"


def pending(line: str, body: str, dest: str = CA) -> PendingOutput:
    """An AM from the switch to ``dest`` on ``line``."""
    return PendingOutput(line, None, "AM", "NL0000000", dest, None, body, START, 0, START)


# ---------------------------------------------------------------------------------------------
# A session and its host, no gateway


class EchoHost:
    """A SessionHost for line CA with key SECRET: answers every input with one AM."""

    settings = SessionSettings(max_frame=4096, write_buffer_limit=65536)
    log = structlog.get_logger()

    def __init__(self) -> None:
        self.sessions: set[LineSession] = set()
        self.holder: LineSession | None = None
        self.peers: list[Peer] = []
        self.inputs_seen: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.acks: list[tuple[str, int]] = []
        self.numbered = 0

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def opened(self, session: LineSession) -> None:
        self.sessions.add(session)

    def gone(self, session: LineSession) -> None:
        self.sessions.discard(session)

    def sign_on(
        self, request: SignOnRequest, peer: Peer, answer: Callable[[SignOnAnswer], None]
    ) -> None:
        self.peers.append(peer)
        ok = request.line == "CA" and request.key == "SECRET"
        answer(SignOnAccepted("CA", 0) if ok else SignOnRefused("INVALID KEY"))

    def attach(self, line: str, session: LineSession) -> None:
        self.holder = session

    def detach(self, line: str, session: LineSession) -> None:
        if self.holder is session:
            self.holder = None

    def backlog_page(self, line: str) -> bool:
        return False

    def inputs(self, line: str, frames: list[tuple[str, str | None]]) -> None:
        self.inputs_seen.append((line, frames))
        assert self.holder is not None
        self.numbered += 1
        text = render_output(pending(line, f"GOT {len(frames)}"), self.numbered)
        self.holder.send_outputs([StoredOutput(line, self.numbered, text, "AM", CA)])

    def acknowledge(self, line: str, seq: int) -> None:
        self.acks.append((line, seq))


@pytest.fixture
async def served() -> AsyncIterator[tuple[EchoHost, int]]:
    """A TCP server whose sessions report to an EchoHost."""
    host = EchoHost()
    server = await asyncio.get_running_loop().create_server(
        lambda: LineSession(host), "127.0.0.1", 0
    )
    yield host, int(server.sockets[0].getsockname()[1])
    server.close()
    for session in list(host.sessions):
        session.close("test over")
    await server.wait_closed()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait on the event loop until ``condition`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


async def test_a_session_signs_on_answers_and_acknowledges_through_its_host_alone(
    served: tuple[EchoHost, int],
) -> None:
    host, port = served
    client = await LineClient.connect("127.0.0.1", port, "CA", "SECRET")
    try:
        await client.send("FIRST")
        received = await client.recv()
        assert received.seq == 1 and received.message.body == "GOT 1"
        await until(lambda: host.acks == [("CA", 1)])
        assert host.inputs_seen == [("CA", [("FIRST", None)])]
        [peer] = host.peers
        assert peer.host == "127.0.0.1" and peer.cert_line is None
    finally:
        await client.close()
    await until(lambda: not host.sessions and host.holder is None)


async def test_a_session_sends_its_hosts_refusal_and_closes(
    served: tuple[EchoHost, int],
) -> None:
    host, port = served
    with pytest.raises(SignOnRejected, match="INVALID KEY"):
        await LineClient.connect("127.0.0.1", port, "CA", "WRONG")
    await until(lambda: not host.sessions)
    assert host.holder is None and host.inputs_seen == []


# ---------------------------------------------------------------------------------------------
# The journal, the outputs and the bus's outbox


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal file of its own."""
    made = Journal(tmp_path / "journal.sqlite3")
    yield made
    made.close()


def committed(path: Path, sql: str) -> list[Any]:
    """Rows as committed, read on a connection of their own."""
    db = sqlite3.connect(path / "journal.sqlite3")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_the_journal_stores_the_text_the_caller_renders_for_each_number(
    journal: Journal, tmp_path: Path
) -> None:
    asked: list[tuple[str, int]] = []

    def render(out: PendingOutput, seq: int) -> str:
        asked.append((out.body, seq))
        return f"{out.body} AS {seq}"

    stored = journal.store_outputs([], [pending("CA", "ONE"), pending("CA", "TWO")], render)
    assert asked == [("ONE", 1), ("TWO", 2)]
    assert [(s.seq, s.text) for s in stored] == [(1, "ONE AS 1"), (2, "TWO AS 2")]
    assert committed(tmp_path, "SELECT seq, text FROM outputs ORDER BY seq") == [
        (1, "ONE AS 1"), (2, "TWO AS 2"),
    ]


def test_the_journal_marks_the_inputs_it_is_given_and_no_others(
    journal: Journal, tmp_path: Path
) -> None:
    journal.record_lines(START, [("CA", [(f"INPUT {n}", None) for n in range(1, 8)])])
    # A run of consecutive ids (one range UPDATE) with a failed input inside it, then ids
    # apart (one UPDATE each), then one alone.
    journal.store_outputs([2, 3, 4], [], render_output, failed={3})
    journal.store_outputs([1, 6], [], render_output, failed={6})
    journal.store_outputs([7], [], render_output)
    assert committed(tmp_path, "SELECT id, processed FROM inputs ORDER BY id") == [
        (1, PROCESSED), (2, PROCESSED), (3, FAILED), (4, PROCESSED), (5, 0), (6, FAILED),
        (7, PROCESSED),
    ]


def test_input_ids_follow_the_largest_stored_across_a_rollback_and_a_reopen(
    journal: Journal, tmp_path: Path
) -> None:
    # The journal keeps the last id in memory; one drawn in a transaction rolled back is
    # given again, and a journal opened again goes on from the file's largest.
    first = journal.record_lines(START, [("CA", [("ONE", None), ("TWO", None)])])
    with pytest.raises(RuntimeError), journal.transaction():
        journal.record_lines(START, [("CA", [("LOST", None)])])
        raise RuntimeError("refused")
    again = journal.record_lines(START, [("CA", [("THREE", None)])])
    journal.close()
    reopened = Journal(tmp_path / "journal.sqlite3")
    try:
        last = reopened.record_lines(START, [("CA", [("FOUR", None)])])
    finally:
        reopened.close()
    assert [(i.id, i.in_seq, i.text) for i in first + again + last] == [
        (1, 1, "ONE"), (2, 2, "TWO"), (3, 3, "THREE"), (4, 4, "FOUR"),
    ]
    assert committed(tmp_path, "SELECT id, text FROM inputs ORDER BY id") == [
        (1, "ONE"), (2, "TWO"), (3, "THREE"), (4, "FOUR"),
    ]


def test_an_acknowledgement_outlives_a_batch_rolled_back_after_it(
    journal: Journal, tmp_path: Path
) -> None:
    journal.store_outputs([], [pending("CA", "ONE"), pending("CA", "TWO")], render_output)
    assert journal.acknowledge("CA", 2) == 2
    # The next batch fails before anything wrote the acknowledgement: only the batch is
    # undone, and the acknowledgement is written with the next commit.
    with pytest.raises(RuntimeError), journal.transaction():
        journal.store_outputs([], [pending("CA", "LOST")], render_output)
        raise RuntimeError("refused")
    assert (journal.last_ack("CA"), journal.last_out("CA")) == (2, 2)
    assert committed(tmp_path, "SELECT last_ack FROM line_state") == [(0,)]
    journal.flush()
    assert committed(tmp_path, "SELECT last_out, last_ack FROM line_state") == [(2, 2)]
    assert [o.seq for o in journal.outputs_after("CA", journal.last_ack("CA"))] == []


def test_a_journal_without_a_bus_has_none_of_the_bus_tables(
    journal: Journal, tmp_path: Path
) -> None:
    tables = {row[0] for row in committed(tmp_path, "SELECT name FROM sqlite_master")}
    assert {"inputs", "outputs", "audit", "line_state"} <= tables
    assert not tables & {"outbox", "bus_seen", "bus_published", "bus_origin"}


@pytest.fixture
def homes() -> Homes:
    """Instance a of a and b: TX is homed here, CA on b (rendezvous hashing)."""
    made = Homes("a", ("a", "b"), ["CA", "TX"])
    assert (made.home_of("TX"), made.home_of("CA")) == ("a", "b")
    return made


def test_outputs_homed_elsewhere_wait_in_the_outbox_the_rest_are_numbered(
    journal: Journal, homes: Homes, tmp_path: Path
) -> None:
    store = BusStore(journal, tmp_path / "journal.sqlite3", homes)
    try:
        here, away = "TX", "CA"
        outputs = Outputs(journal, store)
        stored = outputs.store([], [pending(here, "MINE"), pending(away, "THEIRS")])
        assert [(s.line, s.seq) for s in stored] == [(here, 1)]
        assert parse_output(stored[0].text).body == "MINE"
        [entry] = store.outbox(10, [away])
        assert entry.output.line == away and entry.output.body == "THEIRS"
        assert journal.last_out(away) == 0
        # Kept in the caller's transaction: a failure later in it leaves neither.
        with pytest.raises(KeyError), journal.transaction():
            outputs.store([], [pending(here, "LOST"), pending(away, "LOST")])
            raise KeyError("LATER")
        assert [e.output.body for e in store.outbox(10, [away])] == ["THEIRS"]
        assert journal.last_out(here) == 1
    finally:
        store.close()


def test_an_envelope_is_numbered_once_however_often_it_comes(
    journal: Journal, homes: Homes, tmp_path: Path
) -> None:
    store = BusStore(journal, tmp_path / "journal.sqlite3", homes)
    try:
        here = "TX"
        [first] = store.store_remote("origin-b", [(7, pending(here, "ONCE"))])
        assert first.seq == 1 and parse_output(first.text).out_seq == 1
        assert store.store_remote("origin-b", [(7, pending(here, "ONCE"))]) == []
        assert journal.last_out(here) == 1
    finally:
        store.close()
