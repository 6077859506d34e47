"""Two (and three) gateway processes on one PostgreSQL store and one mosquitto: when one is
SIGKILLed and stays down, its lines' homes pass to the others within the lease time, and
exactly one survivor takes its unanswered inputs and its broker session (issue 14).

The urgent hit-confirmation margin is set so that a PENDING YR falls due three seconds after
its YQ, as in test_reliability_deadlines.py: it falls due while the home of its line is dead.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from gateway_process import GatewayProcess
from lesc_support import yq
from messages import am, field_lines, iaq
from mqtt_broker import INSTANCES, Broker, homed, wait_for_event

from gateway.bus import home_of
from gateway.journal import Journal
from routing.lines import LINE_CODES
from simulator.client import LineClient, SignOnRejected
from simulator.mqtt_client import MqttLineClient

LEASE_S = 3.0
SETTINGS = {
    "IAQGW_LEASE_TIME": str(LEASE_S),
    "IAQGW_TECHNICIAN_DELAY": "off",
    "IAQGW_HIT_MARGIN_URGENT": "597",
}


@contextmanager
def running(
    tmp_path: Path, broker: Broker, postgres: str, names: tuple[str, ...], *extra: str
) -> Iterator[dict[str, GatewayProcess]]:
    """Instances ``names`` on the broker and one PostgreSQL database, with SETTINGS (less the
    lease time when ``extra`` gives --lease-time), each connected and holding its homes."""
    started: dict[str, GatewayProcess] = {}
    with pytest.MonkeyPatch.context() as env:
        for name, value in SETTINGS.items():
            env.setenv(name, value)
        if "--lease-time" in extra:
            env.delenv("IAQGW_LEASE_TIME")
        try:
            for name in names:
                (tmp_path / name).mkdir()
                started[name] = GatewayProcess(
                    tmp_path / name / "data", "--bus", broker.url, "--instance", name,
                    "--instances", ",".join(names), "--store", postgres, *extra,
                ).start()
            for process in started.values():
                wait_for_event(process, "bus.connected")
            # The first held every home until the others' leases showed: wait until it let
            # their lines go and they took them.
            wait_homes(started, ",".join(names))
            yield started
        finally:
            for process in started.values():
                process.stop()


@pytest.fixture
def shared(
    tmp_path: Path, broker: Broker, postgres: str
) -> Iterator[dict[str, GatewayProcess]]:
    """Instances a and b on the broker and one PostgreSQL database, each holding its homes."""
    with running(tmp_path, broker, postgres, INSTANCES) as started:
        yield started


def wait_homes(started: dict[str, GatewayProcess], live: str) -> None:
    """Wait until every instance has seen the others' leases and the last one started has
    taken its lines (each logs ``bus.homes_moved``; the first one started loses lines only)."""
    deadline = time.monotonic() + 15
    last = list(started.values())[-1]
    while True:
        moves = {name: [e for e in process.events() if e.get("event") == "bus.homes_moved"]
                 for name, process in started.items()}
        if (all(found and found[-1].get("live") == live for found in moves.values())
                and any(int(str(e.get("gained"))) > 0 for e in last.events()
                        if e.get("event") == "bus.homes_moved")):
            return
        assert time.monotonic() < deadline, f"the instances never settled on {live}: {moves}"
        time.sleep(0.05)


async def sign_on_when_homed(port: int, line: str, timeout: float) -> tuple[LineClient, float]:
    """Sign on as soon as the instance is the line's home; the client and how long it took."""
    start = time.monotonic()
    while True:
        try:
            client = await LineClient.connect("127.0.0.1", port, line, auto_ack=False)
            return client, time.monotonic() - start
        except SignOnRejected as exc:
            assert "LINE HOMED ON b" in str(exc)
            assert time.monotonic() - start < timeout, "the home never moved"
            await asyncio.sleep(0.1)


async def test_a_dead_instances_lines_are_served_by_the_other_within_the_lease_time(
    shared: dict[str, GatewayProcess], postgres: str, broker: Broker
) -> None:
    a, b = shared["a"], shared["b"]
    on_a, on_b = homed("a", 1)[0], homed("b", 1)[0]
    mqtt_lines = homed("a", 1, (on_a,)) + homed("b", 1, (on_b,))
    mqtt = {line: await MqttLineClient.connect("127.0.0.1", broker.port, line)
            for line in mqtt_lines}
    per_line = 10

    async def mqtt_traffic(first: int) -> None:
        for line, client in mqtt.items():
            for n in range(first, first + per_line):
                await client.send(iaq(f"{line}0000000", arn="012345678", control=f"Q{n}"))

    await mqtt_traffic(0)
    sender = await LineClient.connect("127.0.0.1", a.port, on_a)
    # Refused at a, which names the home.
    with pytest.raises(SignOnRejected, match="LINE HOMED ON b"):
        await LineClient.connect("127.0.0.1", a.port, on_b)
    line = await LineClient.connect("127.0.0.1", b.port, on_b, auto_ack=False)
    for n in range(5):
        await sender.send(am(f"{on_a}0000000", f"{on_b}0000000", text=f"BEFORE {n}"))
    before = await line.recv_many(5)
    assert [o.seq for o in before] == [1, 2, 3, 4, 5]
    await line.ack(3)
    # An urgent YQ whose PENDING falls due in three seconds, after b is gone.
    ori = f"{on_b}0000000"
    await line.send(yq(ori, control="U1", nam="LOPES, CARLOS"))
    with psycopg.connect(postgres) as db:
        deadline = time.monotonic() + 10
        while db.execute("SELECT COUNT(*) FROM lesc_cases").fetchone() != (1,):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        db.commit()
    b.kill()
    killed = time.monotonic()
    # Inputs the broker deals to b's session, and outputs of the MQTT line homed on b.
    await mqtt_traffic(per_line)
    for line, client in mqtt.items():
        got = [await client.recv(3 * LEASE_S + 10) for _ in range(4 * per_line)]
        # Each IAQ answered (IAR and its copy), numbered 1..N without a gap across the move.
        assert [o.seq for o in got] == list(range(1, 4 * per_line + 1)), line
        controls = {o.message.control for o in got}
        assert controls == {f"Q{n}" for n in range(2 * per_line)}, line
        await client.close()

    # The line signs on at a once b's lease has run out, and finds its state there.
    line, waited = await sign_on_when_homed(a.port, on_b, 3 * LEASE_S)
    assert waited <= LEASE_S + LEASE_S / 3 + 1.0
    assert line.last_ack == 3
    await sender.send(am(f"{on_a}0000000", ori, text="AFTER"))
    got = await line.recv_many(4, timeout=15)
    by_seq = {o.seq: o for o in got}
    assert sorted(by_seq) == [4, 5, 6, 7]  # the unacknowledged two, then two more: no gap
    assert [by_seq[4].message.body, by_seq[5].message.body] == ["BEFORE 3", "BEFORE 4"]
    [pending] = [o for o in got if o.message.mke == "YR"]
    assert field_lines(pending.message.body)["STA"] == "PENDING"
    assert pending.message.control == "U1"
    assert time.monotonic() - killed < 10 * 60
    [event] = a.wait_for("hit.deadline")
    assert float(str(event["margin_ms"])) > 0
    with psycopg.connect(postgres) as db:
        seqs = [row[0] for row in db.execute(
            "SELECT seq FROM outputs WHERE line = %s ORDER BY seq", (on_b,)
        )]
    assert seqs == list(range(1, 8))
    # b's broker session (its share of the MQTT inputs) was taken over.
    assert a.wait_for("bus.session_adopted")
    await line.close()
    await sender.close()


THREE = ("a", "b", "c")


@pytest.fixture
def three(
    tmp_path: Path, broker: Broker, postgres: str
) -> Iterator[dict[str, GatewayProcess]]:
    """Instances a, b and c on the broker and one PostgreSQL database (the lease time given
    with --lease-time)."""
    with running(tmp_path, broker, postgres, THREE, "--lease-time", str(LEASE_S)) as started:
        # A renewal later no adoption is left from the staggered start.
        time.sleep(LEASE_S / 3 + 0.5)
        yield started


async def test_a_dead_instances_work_is_taken_by_exactly_one_of_two_survivors(
    three: dict[str, GatewayProcess], postgres: str, broker: Broker
) -> None:
    with psycopg.connect(postgres) as db:
        [(longest,)] = db.execute(
            "SELECT MAX(expires_at) - EXTRACT(EPOCH FROM clock_timestamp()) FROM bus_leases"
        ).fetchall()
    assert 0 < longest <= LEASE_S  # --lease-time, not the 15 s default
    [line] = [code for code in LINE_CODES if home_of(code, THREE) == "a"][:1]
    ori = f"{line}0000000"
    client = await MqttLineClient.connect("127.0.0.1", broker.port, line)
    for n in range(10):
        await client.send(iaq(ori, arn="012345678", control=f"P{n}"))
    got = [await client.recv(15) for _ in range(20)]
    # Inputs a journaled and never answered, as a crash between the two commits leaves them:
    # enough that the two survivors would be answering them at the same time.
    left = 150
    journal = Journal(postgres, "a")
    journal.record_lines(datetime.now(UTC), [(line, [
        (iaq(ori, arn="012345678", control=f"J{n}"), None) for n in range(left)
    ])])
    journal.close()
    three["a"].kill()
    # Inputs the broker deals to a's offline session too.
    for n in range(20):
        await client.send(iaq(ori, arn="012345678", control=f"Q{n}"))
    expected = 2 * (10 + left + 20)
    got += [await client.recv(6 * LEASE_S + 20) for _ in range(expected - 20)]
    # Anything answered twice would show now.
    with pytest.raises(TimeoutError):
        await client.recv(2 * LEASE_S)
    await client.close()
    controls = Counter(o.message.control for o in got)
    assert set(controls.values()) == {2}, [c for c, n in controls.items() if n != 2]
    assert len(controls) == 10 + left + 20
    assert sorted(o.seq for o in got) == list(range(1, expected + 1))
    survivors = [three["b"], three["c"]]
    adopters = [p for p in survivors
                if any(e.get("event") == "bus.session_adopted" and e.get("instance") == "a"
                       for e in p.events())]
    assert len(adopters) == 1
    with psycopg.connect(postgres) as db:
        assert db.execute("SELECT COUNT(*) FROM inputs WHERE processed = 0").fetchone() == (0,)
        [(holder,)] = db.execute(
            "SELECT adopted_by FROM bus_leases WHERE instance = 'a'").fetchall()
    assert holder in ("b", "c")


def moves(process: GatewayProcess, key: str) -> list[str]:
    """When the process's homes moved with some lines ``gained`` (or ``lost``), as log times."""
    return [str(e["ts"]) for e in process.events()
            if e.get("event") == "bus.homes_moved" and int(str(e.get(key))) > 0]


async def test_a_starting_instance_takes_its_lines_once_the_holder_let_them_go(
    tmp_path: Path, broker: Broker, postgres: str
) -> None:
    processes = {
        name: GatewayProcess(
            tmp_path / name / "data", "--bus", broker.url, "--instance", name,
            "--instances", ",".join(INSTANCES), "--store", postgres,
            "--lease-time", str(LEASE_S),
        ) for name in INSTANCES
    }
    a, b = processes["a"], processes["b"]
    try:
        for name in INSTANCES:
            (tmp_path / name).mkdir()
        a.start()
        wait_for_event(a, "bus.connected")
        [line] = homed("b", 1)
        ori = f"{line}0000000"
        client = await MqttLineClient.connect("127.0.0.1", broker.port, line)
        count = 100

        async def stream() -> None:
            for n in range(count):
                await client.send(iaq(ori, arn="012345678", control=f"S{n}"))
                await asyncio.sleep(0.03)

        # b starts (and its line moves to it) while the line's inputs are being answered.
        sending = asyncio.create_task(stream())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(b.start)
        await sending
        got = [await client.recv(20) for _ in range(2 * count)]
        await asyncio.to_thread(wait_homes, processes, "a,b")
        await asyncio.sleep(1)
        assert client.duplicates == 0
        controls = Counter(o.message.control for o in got)
        assert controls == {f"S{n}": 2 for n in range(count)}
        assert sorted(o.seq for o in got) == list(range(1, 2 * count + 1))
        # b took its lines only after a let them go: never two homes for a line at once.
        [released] = moves(a, "lost")
        [taken] = moves(b, "gained")
        assert released < taken
        await client.close()
    finally:
        for process in processes.values():
            process.stop()
