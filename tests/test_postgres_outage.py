"""The shared database lost under a running gateway (issue 14): the gateway exits at once with
one log line and exit code 1, accepts nothing more, and its supervisor's restart (once the
database is back) answers every input, numbers continuing without a gap
(docs/reliability.md, "A lost database"). And a journal that refuses an MQTT input without
losing its connection leaves it unacknowledged, so the broker sends it again.

The test has a PostgreSQL cluster of its own, so that stopping it touches no other test.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from gateway_process import GatewayProcess
from messages import iaq
from mqtt_broker import Broker, free_port, wait_for_event

from gateway.app import Gateway
from gateway.bus.mqtt import MqttBus
from simulator.client import LineClient
from simulator.mqtt_client import MqttLineClient
from simulator.postgres import PostgresServer


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A cluster this test may stop and start."""
    server = PostgresServer(free_port()).start()
    yield server
    server.stop()


def wait_exit(process: GatewayProcess, timeout: float) -> int:
    """The process's exit code; fails when it is still running after ``timeout`` seconds."""
    assert process.proc is not None
    deadline = time.monotonic() + timeout
    while (code := process.proc.poll()) is None:
        assert time.monotonic() < deadline, "the gateway goes on without its database"
        time.sleep(0.05)
    return code


def last_events(process: GatewayProcess, offset: int) -> list[dict[str, object]]:
    """The events logged since ``offset`` (a byte offset in the log)."""
    return process.events(offset)


async def test_a_lost_database_stops_the_gateway_and_its_restart_loses_nothing(
    tmp_path: Path, broker: Broker, own_postgres: PostgresServer
) -> None:
    url = own_postgres.database()
    gateway = GatewayProcess(tmp_path / "data", "--bus", broker.url, "--instance", "a",
                             "--instances", "a", "--store", url).start()
    wait_for_event(gateway, "bus.connected")
    tx = await MqttLineClient.connect("127.0.0.1", broker.port, "TX")
    sender = "TX0000000"
    for n in range(5):
        await tx.send(iaq(sender, arn="012345678", control=f"M{n}"))
    got = [await tx.recv(15) for _ in range(10)]
    ca = await LineClient.connect("127.0.0.1", gateway.port, "CA", auto_ack=False)
    await ca.send(iaq("CA0000000", arn="012345678", control="C1"))
    first = await ca.recv_many(2)
    await ca.ack(first[-1].seq)
    await ca.close()
    await asyncio.sleep(0.5)

    # The database goes while inputs arrive: the batch in flight fails, and the gateway stops.
    offset = gateway.log_path.stat().st_size

    async def stream() -> None:
        for n in range(5, 30):
            await tx.send(iaq(sender, arn="012345678", control=f"M{n}"))
            await asyncio.sleep(0.05)

    publishing = asyncio.create_task(stream())
    await asyncio.sleep(0.3)
    stopped = time.monotonic()
    await asyncio.to_thread(own_postgres.halt)
    code = await asyncio.to_thread(wait_exit, gateway, 10.0)
    assert code == 1
    assert time.monotonic() - stopped < 5
    events = last_events(gateway, offset)
    lost = [e for e in events if e.get("event") == "store.lost"]
    assert len(lost) == 1 and events[-1] is lost[0]
    assert lost[0]["level"] == "critical"
    assert "Traceback" not in gateway.log_path.read_text()[offset:]
    await publishing

    # The supervisor starts it again once the database is back.
    await asyncio.to_thread(own_postgres.resume)
    gateway.start()
    controls = Counter(o.message.control for o in got)
    deadline = time.monotonic() + 30
    while set(controls) != {f"M{n}" for n in range(30)} or min(controls.values()) < 2:
        assert time.monotonic() < deadline, sorted(set(controls))
        output = await tx.recv(30)
        got.append(output)
        controls[output.message.control] += 1
    # Every input answered (one the broker gave again may be answered twice: at-least-once),
    # numbered without a gap across the restart.
    assert sorted(o.seq for o in got) == list(range(1, len(got) + 1))
    ca = await LineClient.connect("127.0.0.1", gateway.port, "CA", auto_ack=False)
    assert ca.last_ack == 2
    await ca.close()
    await tx.close()
    gateway.terminate()


async def test_an_mqtt_input_the_journal_refuses_is_taken_again_not_lost(
    start_gateway: Callable[..., Awaitable[Gateway]], broker: Broker, postgres: str
) -> None:
    gateway = await start_gateway(bus=broker.url, store=postgres)
    assert isinstance(gateway.bus, MqttBus)
    await gateway.bus.wait_connected(10)
    ca = await MqttLineClient.connect("127.0.0.1", broker.port, "CA")
    await ca.send(iaq("CA0000000", arn="012345678", control="Q1"))
    assert {(await ca.recv()).message.control for _ in range(2)} == {"Q1"}
    # The database refuses new inputs as a full disk would (SQLSTATE 53100), its
    # connections standing.
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$"
        )
        db.execute("CREATE TRIGGER disk_full BEFORE INSERT ON inputs"
                   " FOR EACH ROW EXECUTE FUNCTION disk_full()")
        await ca.send(iaq("CA0000000", arn="012345678", control="Q2"))
        with pytest.raises(TimeoutError):
            await ca.recv(1.5)
        db.execute("DROP TRIGGER disk_full ON inputs")
    # Not acknowledged to the broker while refused: sent again, journaled and answered.
    assert {(await ca.recv(15)).message.control for _ in range(2)} == {"Q2"}
    await ca.close()
