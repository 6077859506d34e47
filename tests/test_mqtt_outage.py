"""The broker restarts in the middle of traffic between two instances: nothing is lost (issue 5).

While it is down, a TCP line's inputs are still answered by its home where the answers stay
local; what must cross the broker waits in the journal (and in mosquitto's persistence) and
flows when the broker is back.
"""

import asyncio
import time
from collections import defaultdict
from typing import Any

from gateway_process import GatewayProcess
from messages import am, iaq
from mqtt_broker import Broker, homed

from simulator.client import LineClient
from simulator.mqtt_client import MqttLineClient


class Reader:
    """Reads a line's outputs in the background, with the time each arrived."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.got: list[tuple[float, Any]] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            received = await self.client.recv(timeout=120)
            self.got.append((time.monotonic(), received))

    async def until(self, predicate: Any, timeout: float = 60.0) -> None:
        """Wait until ``predicate(outputs)`` holds."""
        deadline = time.monotonic() + timeout
        while not predicate([o for _, o in self.got]):
            assert time.monotonic() < deadline, f"{self.client.line}: still waiting"
            assert not self._task.done(), self._task
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Stop reading and close the line."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()


def answered(outputs: list[Any], prefix: str) -> set[str]:
    """Controls starting with ``prefix`` that got both the LESC acknowledgement and the IAR."""
    kinds: dict[str, set[str]] = defaultdict(set)
    for o in outputs:
        if (o.message.control or "").startswith(prefix):
            kinds[o.message.control].add(o.message.mke)
    return {control for control, mkes in kinds.items() if mkes >= {"AM", "IAR"}}


def gap_free(outputs: list[Any]) -> bool:
    """Sequence numbers 1..N, each once."""
    seqs = sorted(o.seq for o in outputs)
    return seqs == list(range(1, len(seqs) + 1))


async def test_broker_restart_mid_traffic_loses_nothing(
    instances: dict[str, GatewayProcess], broker: Broker
) -> None:
    a, b = instances["a"], instances["b"]
    tcp_a, tcp_b = homed("a", 1)[0], homed("b", 1)[0]
    mqtt_line = homed("b", 1, (tcp_b,))[0]
    ta = Reader(await LineClient.connect("127.0.0.1", a.port, tcp_a))
    tb = Reader(await LineClient.connect("127.0.0.1", b.port, tcp_b))
    m = Reader(await MqttLineClient.connect("127.0.0.1", broker.port, mqtt_line))
    sender_a, sender_m = f"{tcp_a}0000000", f"{mqtt_line}0000000"
    # The MQTT line makes itself known before the outage, so it is in service for A.
    await m.client.send(am(sender_m, mqtt_line, text="HELLO"))
    await m.until(lambda got: len(got) == 1)
    rounds = 60
    outage: list[float] = []
    sent_to_b: list[float] = []

    async def traffic_a() -> None:
        for n in range(rounds):
            await ta.client.send(iaq(sender_a, arn="012345678", control=f"T{n}"))
            sent_to_b.append(time.monotonic())
            await ta.client.send(am(sender_a, tcp_b, text=f"TO B {n}"))
            await ta.client.send(am(sender_a, mqtt_line, text=f"TO M {n}"))
            await asyncio.sleep(0.05)

    async def traffic_m() -> None:
        for n in range(rounds):
            await m.client.send(iaq(sender_m, arn="012345678", control=f"M{n}"))
            await asyncio.sleep(0.05)

    async def restart_broker() -> None:
        await asyncio.sleep(0.8)
        await asyncio.to_thread(broker.stop)
        # From here until the restart begins, nothing can cross the broker.
        outage.append(time.monotonic())
        await asyncio.sleep(1.5)
        outage.append(time.monotonic())
        await asyncio.to_thread(broker.start)

    await asyncio.gather(traffic_a(), traffic_m(), restart_broker())

    every = {f"T{n}" for n in range(rounds)}
    await ta.until(lambda got: answered(got, "T") == every)
    await tb.until(lambda got: len(got) >= rounds)
    await m.until(
        lambda got: answered(got, "M") == {f"M{n}" for n in range(rounds)}
        and sum(o.message.body.startswith("TO M ") for o in got) >= rounds
    )
    down, up = outage
    # A answered its own line while the broker was down.
    assert any(down < at < up for at, o in ta.got if o.message.mke == "IAR")
    # What crossed the broker: every message once, in the order sent, numbers gap-free.
    to_b = [o for _, o in tb.got]
    assert [o.message.body for o in to_b] == [f"TO B {n}" for n in range(rounds)]
    assert [o.seq for o in to_b] == list(range(1, rounds + 1))
    # Those sent during the outage waited and came after it.
    waited = [n for n, at in enumerate(sent_to_b) if down < at < up]
    assert waited
    arrived = {o.message.body: at for at, o in tb.got}
    assert all(arrived[f"TO B {n}"] > up for n in waited)
    # Both instances lost the broker and came back.
    for process in (a, b):
        bus = [e for e in process.events() if str(e.get("event")).startswith("bus.")]
        events = [e["event"] for e in bus]
        # On failure, the instance's bus lines say what its connection did instead.
        assert "bus.disconnected" in events and events.count("bus.connected") >= 2, bus
    to_m = [o.message.body for _, o in m.got if o.message.body.startswith("TO M ")]
    assert to_m == [f"TO M {n}" for n in range(rounds)]
    for reader in (ta, tb, m):
        assert gap_free([o for _, o in reader.got]), reader.client.line
    for reader in (ta, tb, m):
        await reader.close()
