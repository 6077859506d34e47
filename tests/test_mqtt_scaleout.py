"""Two gateway processes on one mosquitto share the work, numbers stay gap-free (issue 5)."""

import asyncio
import time
from collections import defaultdict
from typing import Any

import pytest
from gateway_process import GatewayProcess
from messages import am, iaq
from mqtt_broker import Broker, homed

from simulator.client import LineClient, SignOnRejected
from simulator.mqtt_client import MqttLineClient


def accepted_lines(process: GatewayProcess) -> dict[str, int]:
    """How many inputs of each line the process accepted."""
    counts: dict[str, int] = defaultdict(int)
    for event in process.events():
        if event.get("event") == "message.accepted":
            counts[str(event["line"])] += 1
    return counts


async def drain_exactly(client: Any, count: int, timeout: float = 30.0) -> list[Any]:
    """``count`` outputs (each line client drops duplicates itself)."""
    return [await client.recv(timeout) for _ in range(count)]


async def test_two_instances_share_inputs_and_keep_numbers_gap_free(
    instances: dict[str, GatewayProcess], broker: Broker
) -> None:
    a, b = instances["a"], instances["b"]
    tcp_a, tcp_b = homed("a", 1)[0], homed("b", 1)[0]
    mqtt_lines = homed("a", 2, (tcp_a,)) + homed("b", 2, (tcp_b,))
    # A line signs on at its home only.
    with pytest.raises(SignOnRejected, match="LINE HOMED ON a"):
        await LineClient.connect("127.0.0.1", b.port, tcp_a)
    ta = await LineClient.connect("127.0.0.1", a.port, tcp_a)
    tb = await LineClient.connect("127.0.0.1", b.port, tcp_b)
    mqtt = {
        line: await MqttLineClient.connect("127.0.0.1", broker.port, line)
        for line in mqtt_lines
    }
    per_line = 25
    am_count = 20
    first_mqtt = mqtt_lines[0]

    async def mqtt_traffic(line: str) -> None:
        for n in range(per_line):
            await mqtt[line].send(iaq(f"{line}0000000", arn="012345678", control=f"Q{n}"))

    await asyncio.gather(*(mqtt_traffic(line) for line in mqtt_lines))
    for line, client in mqtt.items():
        got = await drain_exactly(client, 2 * per_line)
        # Numbered by the line's home only: 1..N in the order they arrive, no gap.
        assert [o.seq for o in got] == list(range(1, 2 * per_line + 1)), line
        kinds: dict[str, list[str]] = defaultdict(list)
        for o in got:
            kinds[o.message.control or ""].append(o.message.mke)
        assert kinds == {f"Q{n}": ["AM", "IAR"] for n in range(per_line)}, line

    for n in range(am_count):
        # TCP at a -> TCP at b, and TCP at b -> an MQTT line homed at a: both cross the broker.
        await ta.send(am(f"{tcp_a}0000000", tcp_b, text=f"A TO B {n}"))
        await tb.send(am(f"{tcp_b}0000000", first_mqtt, text=f"B TO MQTT {n}"))
    got_b = await drain_exactly(tb, am_count)
    assert [o.message.body for o in got_b] == [f"A TO B {n}" for n in range(am_count)]
    assert [o.seq for o in got_b] == list(range(1, am_count + 1))
    # tb is signed on at b, and a knows it: ta got no SM, its next output is its own echo.
    await ta.send(am(f"{tcp_a}0000000", tcp_a, text="ECHO"))
    assert (await ta.recv()).message.body == "ECHO"
    got_m = await drain_exactly(mqtt[first_mqtt], am_count)
    assert [o.message.body for o in got_m] == [f"B TO MQTT {n}" for n in range(am_count)]
    assert [o.seq for o in got_m] == list(range(2 * per_line + 1, 2 * per_line + am_count + 1))
    # Both instances took a share of the MQTT lines' inputs.
    # Log lines are written once per loop iteration: the last may trail its answer a little.
    deadline = time.monotonic() + 5
    while True:
        shares = [sum(accepted_lines(p).get(line, 0) for line in mqtt_lines) for p in (a, b)]
        if sum(shares) == len(mqtt_lines) * per_line or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert sum(shares) == len(mqtt_lines) * per_line
    assert min(shares) > 0, shares
    for client in (ta, tb, *mqtt.values()):
        await client.close()


async def test_instance_killed_mid_traffic_loses_nothing(
    instances: dict[str, GatewayProcess], broker: Broker
) -> None:
    """SIGKILL b while MQTT inputs stream in: its share waits in its session until it returns."""
    b = instances["b"]
    lines = homed("a", 1) + homed("b", 1)
    mqtt = {
        line: await MqttLineClient.connect("127.0.0.1", broker.port, line) for line in lines
    }
    count = 40

    async def traffic(line: str) -> None:
        for n in range(count):
            await mqtt[line].send(iaq(f"{line}0000000", arn="012345678", control=f"K{n}"))
            await asyncio.sleep(0.01)

    async def kill_and_restart() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(b.kill)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(b.start)

    await asyncio.gather(*(traffic(line) for line in lines), kill_and_restart())
    for line, client in mqtt.items():
        got: list[Any] = []
        answered: dict[str, set[str]] = defaultdict(set)
        while len([c for c, kinds in answered.items() if kinds >= {"AM", "IAR"}]) < count:
            received = await client.recv(timeout=60)
            got.append(received)
            answered[received.message.control or ""].add(received.message.mke)
        # An input b took but had not acknowledged is answered again: more numbers, no gap.
        assert sorted(o.seq for o in got) == list(range(1, len(got) + 1)), line
    for client in mqtt.values():
        await client.close()
