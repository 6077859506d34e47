"""A state switch line on MQTT (SPEC.md §7), with the surface of :class:`LineClient`.

The line logs in to the broker with its code and key, keeps a persistent session subscribed
to ``nlets/v1/out/<LINE>`` and publishes inputs to ``nlets/v1/in/<LINE>`` (QoS 1). It rides
out a broker restart: it reconnects with backoff, and a publish cut off by the outage is sent
again on the next connection (at-least-once, so the gateway may see an input twice). A PUBACK
"No matching subscribers" means no gateway instance took the input (mosquitto forgets the
gateways' shared subscription over a restart until they subscribe again): it is sent again
after a pause. Outputs
carry their full sequence number in the ``seq`` user property; one seen before is counted in
``duplicates`` and not handed on.

``connect_mqtt`` is a connector for the simulated switches of ``simulator/switches.py``
(register it as ``TRANSPORTS["mqtt"]``).
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.client import MQTTMessage

from formats.line_protocol import TEXT, Ack, Codec, Input, LineProtocol, Received, Role
from gateway.bus.backoff import Backoff
from gateway.bus.client import (
    NO_MATCHING_SUBSCRIBERS,
    REFUSED,
    BusClient,
    BusError,
    ConnectRefused,
    delivered,
)
from gateway.bus.topics import SEQ_PROPERTY, input_topic, output_topic
from routing.lines import dev_key
from simulator.client import SignOnRejected
from simulator.switches import Delivered, Handler, LinkCounters, SwitchLink, Target

# A day: long enough for any outage a test or a simulation rides out.
SESSION_EXPIRY_S = 86_400
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 2.0
# Outputs taken from the client per wake-up.
RECEIVE_BATCH = 256
# How long to wait before offering an input again that no gateway instance took.
NO_GATEWAY_RETRY_S = 0.2


class PublishRefused(Exception):
    """The broker refused an input (its PUBACK reason code is the message)."""


@dataclass(slots=True)
class _Connection:
    """One broker connection; ``lost`` is set when it ends."""

    client: BusClient
    lost: asyncio.Event = field(default_factory=asyncio.Event)


def _output_seq(message: MQTTMessage) -> int | None:
    properties = message.properties
    for name, value in getattr(properties, "UserProperty", None) or []:
        if name == SEQ_PROPERTY and value.isdigit():
            return int(value)
    return None


class MqttLineClient:
    """One line's MQTT session with the broker the gateway uses."""

    def __init__(
        self,
        host: str,
        port: int,
        line: str,
        key: str,
        auto_ack: bool = True,
        identifier: str | None = None,
        on_output: Callable[[Received], None] | None = None,
        codec: Codec = TEXT,
    ) -> None:
        self.line = line
        self.auto_ack = auto_ack
        self.last_ack = 0
        self.duplicates = 0
        self._host = host
        self._port = port
        self._key = key
        self._identifier = identifier or f"line-{line}"
        self._on_output = on_output
        # The broker signs the line on: its login is the sign-on.
        self._protocol = LineProtocol(Role.LINE, codec=codec, line=line)
        self._outputs: asyncio.Queue[Received] = asyncio.Queue()
        self._seen: set[int] = set()
        self._connection: _Connection | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        line: str,
        key: str | None = None,
        *,
        auto_ack: bool = True,
        timeout: float = 10.0,
        identifier: str | None = None,
        on_output: Callable[[Received], None] | None = None,
        codec: Codec = TEXT,
    ) -> "MqttLineClient":
        """Log in and subscribe; raises SignOnRejected when the broker refuses the account.

        ``codec`` reads the outputs, as for :class:`simulator.client.LineClient`.
        """
        client = cls(
            host, port, line, key or dev_key(line), auto_ack, identifier, on_output, codec
        )
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client._runner = asyncio.create_task(client._run(first))
        try:
            await asyncio.wait_for(asyncio.shield(first), timeout)
        except BaseException:
            await client.close()
            raise
        return client

    async def _run(self, first: "asyncio.Future[None]") -> None:
        backoff = Backoff(BACKOFF_MIN_S, BACKOFF_MAX_S)
        while True:
            client = BusClient(
                self._host, self._port, identifier=self._identifier, username=self.line,
                password=self._key, keepalive=10, session_expiry=SESSION_EXPIRY_S,
            )
            connection = _Connection(client)
            try:
                async with client:
                    codes = await client.subscribe([output_topic(self.line)])
                    if any(code.is_failure for code in codes):
                        raise SignOnRejected(f"{self.line}: output topic refused ({codes[0]})")
                    self._connection = connection
                    self._connected.set()
                    if not first.done():
                        first.set_result(None)
                    backoff.reset()
                    while True:
                        for message in await client.receive(RECEIVE_BATCH):
                            self._take(message)
                            client.ack(message)
            except ConnectRefused as exc:
                if not first.done() and exc.reason in REFUSED:
                    first.set_exception(SignOnRejected(f"{self.line}: {exc}"))
                    return
            except BusError:
                pass
            except SignOnRejected as exc:
                if not first.done():
                    first.set_exception(exc)
                return
            finally:
                self._connection = None
                self._connected.clear()
                connection.lost.set()
            await asyncio.sleep(backoff.next())

    def _take(self, message: MQTTMessage) -> None:
        raw = message.payload
        payload = bytes(raw) if isinstance(raw, bytes | bytearray) else b""
        # Frames the line cannot read, and HB (the gateway probes no MQTT line), are dropped.
        for received in self._protocol.receive_payload(payload, _output_seq(message)):
            if not isinstance(received, Received):
                continue
            if received.seq in self._seen:
                self.duplicates += 1
                continue
            self._seen.add(received.seq)
            if self._on_output is not None:
                self._on_output(received)
            else:
                self._outputs.put_nowait(received)

    async def send(self, text: str) -> None:
        """Publish one input text; waits for the broker's PUBACK, across reconnects."""
        await self._publish(self._protocol.payload(Input(text)))

    async def _publish(self, payload: bytes) -> None:
        while True:
            await self._connected.wait()
            connection = self._connection
            if connection is None:
                continue
            publish = asyncio.ensure_future(
                connection.client.publish_acked(input_topic(self.line), payload)
            )
            lost = asyncio.ensure_future(connection.lost.wait())
            done, _ = await asyncio.wait({publish, lost}, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            if publish in done and publish.exception() is None:
                reason = publish.result()
                if delivered(reason):
                    return
                if reason != NO_MATCHING_SUBSCRIBERS:
                    raise PublishRefused(f"{self.line}: PUBACK reason 0x{reason:02x}")
                await asyncio.sleep(NO_GATEWAY_RETRY_S)
                continue
            publish.cancel()
            with contextlib.suppress(BaseException):
                await publish
            # The connection went with the publish in flight: send it again on the next.
            while self._connection is connection:
                await asyncio.sleep(0.01)

    async def recv(self, timeout: float = 10.0) -> Received:
        """The next output not seen before; acknowledged at once when ``auto_ack``."""
        received = await asyncio.wait_for(self._outputs.get(), timeout)
        if self.auto_ack:
            await self.ack(received.seq)
        return received

    async def recv_many(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The next ``count`` outputs."""
        return [await self.recv(timeout) for _ in range(count)]

    async def ack(self, seq: int) -> None:
        """Acknowledge every output up to ``seq`` (``ACK.<SEQ>`` on the input topic)."""
        self.last_ack = max(self.last_ack, seq)
        await self._publish(self._protocol.payload(Ack(seq)))

    async def close(self) -> None:
        """Disconnect; the broker keeps the session and queues outputs until the next login."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None


class MqttSwitch:
    """A simulated state switch on MQTT (a :class:`SwitchLink` for ``simulator/switches.py``)."""

    def __init__(self, line: str, handler: Handler) -> None:
        self.line = line
        self.counters = LinkCounters()
        self._handler = handler
        self._client: MqttLineClient | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._last: int | None = None
        self._ack_due: int | None = None

    def _output(self, received: Received) -> None:
        # uvloop's loop clock ticks in milliseconds: too coarse for latencies.
        read_at = time.perf_counter()
        if self._client is not None:
            self.counters.duplicates = self._client.duplicates
        if self._last is not None and received.seq > self._last + 1:
            self.counters.gaps.append((self._last + 1, received.seq))
        self._last = max(self._last or 0, received.seq)
        self.counters.outputs += 1
        self._handler(Delivered(self.line, received.seq, received.message, received.text, read_at))
        # One ACK for what arrived in this loop iteration, as a TCP switch sends one per read.
        if self._ack_due is None:
            asyncio.get_running_loop().call_soon(self._send_ack)
        self._ack_due = max(self._ack_due or 0, received.seq)

    def _send_ack(self) -> None:
        due, self._ack_due = self._ack_due, None
        if due is not None and self._client is not None:
            self._spawn(self._client.ack(due))

    def send(self, text: str) -> None:
        """Publish one input text (in the background, in order of calls)."""
        if self._client is not None:
            self._spawn(self._client.send(text))

    def _spawn(self, publish: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(publish)
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def close(self) -> None:
        """Let pending publishes finish, then disconnect."""
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=5)
        if self._client is not None:
            self.counters.duplicates = self._client.duplicates
            await self._client.close()


async def connect_mqtt(
    target: Target, line: str, key: str, handler: Handler, codec: Codec = TEXT
) -> SwitchLink:
    """Log ``line`` in to the broker at ``target`` (``mqtt://HOST:PORT``) and subscribe;
    ``codec`` reads its outputs."""
    switch = MqttSwitch(line, handler)
    switch._client = await MqttLineClient.connect(
        target.host, target.port, line, key, auto_ack=False, on_output=switch._output,
        codec=codec,
    )
    return switch
