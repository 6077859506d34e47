"""The MQTT bus (SPEC.md §7): lines on MQTT, and several instances sharing the work.

One MQTT connection per instance (gateway/bus/client.py), MQTT v5, QoS 1, a persistent
session (clean start off, a session that never expires) so that what arrives while the
instance is away waits for it in the broker. It carries:

- inputs of MQTT lines, ``$share/iaqgw/nlets/v1/in/+``: journaled and answered here like a
  TCP line's, then acknowledged to the broker (PUBACK only after the journal commit);
- outputs for lines whose home is another instance: taken from the journal's outbox,
  published un-numbered to ``iaqgw/v1/route/<LINE>``, deleted once the broker has them;
- envelopes for lines whose home is here: numbered in the journal, then delivered;
- outputs for MQTT lines whose home is here: ``nlets/v1/out/<LINE>`` with user property
  ``seq``, re-published after a reconnect from the last one the broker took;
- presence (retained ``iaqgw/v1/presence/<LINE>``: a TCP session on an instance, or an MQTT
  line) and live instances (retained ``iaqgw/v1/instances/<NAME>``, marked gone by the will),
  so every instance knows whether a line is in service (SM) and where.

A PUBACK "No matching subscribers" (0x10) means the broker dropped the message: an envelope
stays in the outbox and an output stays unpublished, and both go again later.

docs/scale-out.md explains the design and its limits.
"""

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
from paho.mqtt.client import MQTTMessage

from formats.line_protocol import Ack, Input, LineProtocol, Role
from gateway.bus import home_of
from gateway.bus.backoff import Backoff
from gateway.bus.client import (
    CALL_TIMEOUT_S,
    BusClient,
    BusError,
    SeqProperties,
    Will,
    delivered,
)
from gateway.bus.topics import (
    INSTANCES_FILTER,
    PRESENCE_FILTER,
    SHARED_INPUT,
    instance_topic,
    last_level,
    output_topic,
    presence_topic,
    route_topic,
)
from gateway.journal import OutboxEntry, PendingOutput, StoredOutput

if TYPE_CHECKING:
    from gateway.app import Gateway

# MQTT v5: a session that never expires, so inputs and envelopes wait for an instance.
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
# Short, so that a connection that stopped moving is noticed (and replaced) within seconds.
KEEPALIVE_S = 10
BACKOFF_MIN_S = 0.25
# Kept short: after a broker restart, mosquitto 2.0 has forgotten the shared subscription
# until an instance subscribes again, and inputs published meanwhile find no subscriber.
BACKOFF_MAX_S = 5.0
# How soon envelopes the broker could not place are offered again.
OUTBOX_RETRY_S = 1.0
INPUT_BATCH = 256
OUTBOX_BATCH = 500
STOP_GRACE_S = 2.0

_INPUT_PREFIX = "nlets/v1/in/"
_ROUTE_PREFIX = "iaqgw/v1/route/"
_PRESENCE_PREFIX = "iaqgw/v1/presence/"
_INSTANCES_PREFIX = "iaqgw/v1/instances/"
MQTT_PRESENCE = "mqtt"


def tcp_presence(instance: str) -> str:
    """Presence of a line signed on over TCP at ``instance``."""
    return f"tcp {instance}"


def encode_envelope(origin: str, ident: int, out: PendingOutput) -> bytes:
    """An un-numbered output on its way to its line's home."""
    return orjson.dumps(
        {
            "kind": "out", "origin": origin, "id": ident, "line": out.line, "mke": out.mke,
            "sender": out.sender, "dest": out.dest, "control": out.control, "body": out.body,
            "in_time": out.in_time.isoformat(), "in_seq": out.in_seq,
            "out_time": out.out_time.isoformat(),
        }
    )


def encode_ack(line: str, seq: int) -> bytes:
    """An MQTT line's ACK on its way to the line's home."""
    return orjson.dumps({"kind": "ack", "line": line, "seq": seq})


def decode_pending(envelope: dict[str, Any]) -> PendingOutput:
    """The output an ``out`` envelope carries (its input id belongs to another journal)."""
    return PendingOutput(
        line=envelope["line"], input_id=None, mke=envelope["mke"], sender=envelope["sender"],
        dest=envelope["dest"], control=envelope["control"], body=envelope["body"],
        in_time=datetime.fromisoformat(envelope["in_time"]), in_seq=int(envelope["in_seq"]),
        out_time=datetime.fromisoformat(envelope["out_time"]),
    )


class _MqttLink:
    """Delivery's link for MQTT lines whose home is this instance."""

    def __init__(self, bus: "MqttBus") -> None:
        self._bus = bus

    def send_outputs(self, outputs: list[StoredOutput], live: bool = True) -> None:
        """Publish to the line's output topic."""
        self._bus.publish_outputs(outputs)

    def close(self, reason: str) -> None:
        """Nothing to close: the broker holds the line's session."""


class MqttBus:
    """The gateway's side of the broker."""

    def __init__(self, gateway: "Gateway", host: str, port: int, instances: Sequence[str]) -> None:
        self._gw = gateway
        self._log = gateway.log
        self._host = host
        self._port = port
        self.instance = gateway.settings.instance
        self._instances = tuple(instances)
        self._homes = {line.code: home_of(line.code, self._instances) for line in gateway.lines}
        self._origin = gateway.journal.origin()
        self._client: BusClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outbox_wake = asyncio.Event()
        self._connected = asyncio.Event()
        # Retained state other instances publish, as last seen.
        self._presence: dict[str, str] = {}
        # Live instance -> the token of its connection (a will names the token it ends).
        self._live: dict[str, str] = {}
        self._token = ""
        # Per MQTT line: the last output the broker took (durable), and the last handed to
        # the broker on this connection.
        self._published = gateway.journal.published()
        self._published_dirty: dict[str, int] = {}
        self._sent: dict[str, int] = {}
        self._save_scheduled = False
        self._link = _MqttLink(self)
        # The broker signed each line on (its login), so a line's protocol starts signed on.
        self._protocols = {
            code: LineProtocol(Role.GATEWAY, max_text=gateway.settings.max_frame, line=code)
            for code in self._homes
        }
        gateway.journal.remote = self.is_remote
        gateway.journal.on_outbox = self._outbox_wake.set
        gateway.delivery.remote_link = self._link_for
        gateway.delivery.on_signon = self._signed_on

    # what the gateway asks

    def home_of(self, line: str) -> str:
        """The line's home instance (lines outside the registry: this one)."""
        return self._homes.get(line, self.instance)

    def is_remote(self, line: str) -> bool:
        """True when another instance numbers the line's outputs."""
        return self.home_of(line) != self.instance

    def in_service(self, line: str) -> bool:
        """True for an MQTT line, or a line signed on at another live instance."""
        presence = self._presence.get(line)
        if presence == MQTT_PRESENCE:
            return True
        if presence is not None and presence.startswith("tcp "):
            holder = presence[4:]
            return holder != self.instance and holder in self._live
        return False

    async def wait_connected(self, timeout: float) -> None:
        """Wait until the broker connection is up (for tests and tools)."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def start(self) -> None:
        """Connect in the background: the gateway serves TCP lines with or without a broker."""
        if len(self._instances) > 1:
            mine = sum(1 for home in self._homes.values() if home == self.instance)
            self._log.info("bus.homes", instance=self.instance, lines=mine,
                           instances=",".join(self._instances))
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let pending publishes finish (briefly), say goodbye, disconnect."""
        if self._runner is None:
            return
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                # Published after everything before it, so its PUBACK says all went out.
                await asyncio.wait_for(
                    client.publish_acked(instance_topic(self.instance), self._left(),
                                         retain=True),
                    STOP_GRACE_S,
                )
        self._runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._runner
        self._runner = None
        self._save_published()

    # connection

    def _left(self) -> bytes:
        return orjson.dumps({"left": self._token})

    def _new_client(self) -> BusClient:
        settings = self._gw.settings
        self._token = uuid.uuid4().hex
        return BusClient(
            self._host,
            self._port,
            identifier=f"iaqgw-{self.instance}",
            username=settings.bus_user,
            password=settings.bus_password,
            keepalive=KEEPALIVE_S,
            session_expiry=SESSION_NEVER_EXPIRES,
            # The broker marks this connection gone when it vanishes.
            will=Will(instance_topic(self.instance), self._left(), retain=True),
        )

    async def _run(self) -> None:
        backoff = Backoff(BACKOFF_MIN_S, BACKOFF_MAX_S)
        while True:
            client = self._new_client()
            try:
                async with client:
                    backoff.reset()
                    await self._serve(client)
            except (BusError, TimeoutError, OSError) as exc:
                delay = backoff.next()
                self._log.warning("bus.disconnected", host=self._host, port=self._port,
                                  error=str(exc) or type(exc).__name__, retry_s=round(delay, 2))
            except Exception:
                # Whatever went wrong, the gateway keeps its TCP lines and tries the broker again.
                delay = backoff.next()
                self._log.exception("bus.error", retry_s=round(delay, 2))
            finally:
                self._client = None
                self._connected.clear()
                for task in list(self._tasks):
                    task.cancel()
            await asyncio.sleep(delay)

    async def _serve(self, client: BusClient) -> NoReturn:
        topics = [SHARED_INPUT, PRESENCE_FILTER, INSTANCES_FILTER]
        topics += [route_topic(line) for line, home in self._homes.items()
                   if home == self.instance]
        await client.subscribe(topics)
        foreign = [route_topic(line) for line, home in self._homes.items()
                   if home != self.instance]
        if foreign:
            # The session keeps subscriptions; after a change of the instance list, routes of
            # lines that moved away must stop coming here.
            await client.unsubscribe(foreign)
        # Bounded: a publish cut off with its connection is never acknowledged.
        await asyncio.wait_for(
            client.publish_acked(
                instance_topic(self.instance),
                orjson.dumps({"instances": list(self._instances), "token": self._token}),
                retain=True,
            ),
            CALL_TIMEOUT_S,
        )
        self._client = client
        self._sent = {}
        self._connected.set()
        self._log.info("bus.connected", host=self._host, port=self._port,
                       instance=self.instance)
        for line in self._homes:
            if self._gw.delivery.is_signed_on(line):
                self._publish_presence(line, tcp_presence(self.instance))
        self._spawn(self._drain_outbox(client))
        self._outbox_wake.set()
        while True:
            self._take(client, await client.receive(INPUT_BATCH))

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The outbox stops with its connection; what it held is still in the journal and
            # goes after the reconnect.
            self._log.info("bus.outbox_stopped", error=str(task.exception()))

    # incoming

    def _take(self, client: BusClient, batch: list[MQTTMessage]) -> None:
        inputs: dict[str, list[tuple[str, str | None]]] = {}
        envelopes: dict[str, list[tuple[int, PendingOutput]]] = {}
        for message in batch:
            topic = message.topic
            raw = message.payload
            payload = bytes(raw) if isinstance(raw, bytes | bytearray) else b""
            try:
                if topic.startswith(_INPUT_PREFIX):
                    self._input(last_level(topic), payload, inputs)
                elif topic.startswith(_ROUTE_PREFIX):
                    self._envelope(topic, payload, envelopes)
                elif topic.startswith(_PRESENCE_PREFIX):
                    self._on_presence(last_level(topic), payload.decode("ascii", "replace"))
                elif topic.startswith(_INSTANCES_PREFIX):
                    self._on_instance(last_level(topic), payload)
            except (ValueError, KeyError, TypeError) as exc:
                self._log.warning("bus.bad_message", topic=topic, error=str(exc))
        try:
            for line, frames in inputs.items():
                self._gw.delivery.deliver(self._gw.switch.handle(line, frames))
            for origin, entries in envelopes.items():
                self._gw.delivery.deliver(self._gw.journal.store_remote(origin, entries))
        except Exception:
            # As for a TCP session: what is journaled is answered on recovery; the process
            # and the other lines go on.
            self._log.exception("bus.error")
        for message in batch:
            client.ack(message)

    def _input(
        self, line: str, payload: bytes, inputs: dict[str, list[tuple[str, str | None]]]
    ) -> None:
        protocol = self._protocols.get(line)
        if protocol is None:
            # Only the gateway account may publish to a topic no line owns (the ACL).
            self._log.warning("security.violation", line=line, detail="input topic of no line")
            return
        if self._presence.get(line) is None:
            self._publish_presence(line, MQTT_PRESENCE)
        elif self._presence[line] == MQTT_PRESENCE and not self.is_remote(line):
            # What the broker could not place with the line before goes now that it is back.
            self._resend(line)
        frames = inputs.setdefault(line, [])
        # A SIGNON here is one too many (ER 0); HB needs no answer on MQTT: the broker's
        # keepalive watches the line.
        for event in protocol.receive_payload(payload):
            if isinstance(event, Ack):
                self._ack(line, event.seq)
            elif isinstance(event, Input):
                frames.append((event.text, event.fault))

    def _ack(self, line: str, seq: int) -> None:
        if self.is_remote(line):
            self._publish(route_topic(line), encode_ack(line, seq))
        else:
            self._gw.journal.acknowledge(line, seq)
            self._gw.schedule_flush()

    def _envelope(
        self, topic: str, payload: bytes, envelopes: dict[str, list[tuple[int, PendingOutput]]]
    ) -> None:
        line = last_level(topic)
        if self.is_remote(line):
            # Left in this session from before a change of the instance list: pass it on to
            # the home, which is subscribed now (and drops it if it has it already).
            self._log.info("bus.rerouted", line=line, home=self.home_of(line))
            self._publish(topic, payload)
            return
        envelope = orjson.loads(payload)
        if envelope["kind"] == "ack":
            self._gw.journal.acknowledge(line, int(envelope["seq"]))
            self._gw.schedule_flush()
            return
        pending = decode_pending(envelope)
        if pending.line != line:
            raise ValueError(f"envelope for {pending.line} on the route of {line}")
        envelopes.setdefault(str(envelope["origin"]), []).append((int(envelope["id"]), pending))

    def _on_presence(self, line: str, value: str) -> None:
        if value:
            self._presence[line] = value
        else:
            self._presence.pop(line, None)
        if self.home_of(line) != self.instance:
            return
        mine = tcp_presence(self.instance)
        if self._gw.delivery.is_signed_on(line):
            if value != mine:
                # The home holds the line: its word wins over an instance that saw the line
                # on MQTT before it had heard of the TCP session.
                self._publish_presence(line, mine)
        elif value == mine:
            # Left over from before a restart of this instance.
            self._publish_presence(line, "")
        elif value == MQTT_PRESENCE:
            self._resend(line)

    def _on_instance(self, name: str, payload: bytes) -> None:
        if not payload:
            return
        news = orjson.loads(payload)
        if "left" in news:
            # A will can arrive after the announcement of the connection that followed it
            # (both wait in this session across a broker restart): only its own counts.
            if self._live.get(name) == news["left"]:
                del self._live[name]
                self._log.info("bus.instance_left", instance=name)
            return
        self._live[name] = str(news["token"])
        self._outbox_wake.set()
        listed = tuple(news["instances"])
        if listed != self._instances:
            # Two lists give two homes to some lines: their numbers would fork.
            self._log.error("bus.instances_mismatch", instance=name, theirs=",".join(listed),
                            ours=",".join(self._instances))

    # outgoing

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        client = self._client
        if client is not None:
            # Presence and ACKs are sent again in full after a reconnect; a session's sign-on
            # must not fail because the broker connection is going.
            with contextlib.suppress(BusError):
                client.publish_soon(topic, payload, retain=retain)

    def _publish_presence(self, line: str, value: str) -> None:
        if value:
            self._presence[line] = value
        else:
            self._presence.pop(line, None)
        self._publish(presence_topic(line), value.encode(), retain=True)

    def _signed_on(self, line: str, signed_on: bool) -> None:
        self._publish_presence(line, tcp_presence(self.instance) if signed_on else "")

    def _link_for(self, line: str) -> _MqttLink | None:
        if (
            self._client is not None
            and self._presence.get(line) == MQTT_PRESENCE
            and not self.is_remote(line)
        ):
            return self._link
        return None

    def publish_outputs(self, outputs: list[StoredOutput]) -> None:
        """Publish numbered outputs of MQTT lines whose home is here, each once per connection."""
        client = self._client
        if client is None:
            return
        for output in outputs:
            line = output.line
            if output.seq <= self._sent.get(line, self._published.get(line, 0)):
                continue
            self._sent[line] = output.seq
            try:
                client.publish_soon(
                    output_topic(line), output.text.encode("ascii"),
                    functools.partial(self._output_published, line, output.seq),
                    properties=SeqProperties(output.seq),
                )
            except BusError:
                # The connection is going: the outputs wait in the journal for the next one.
                return

    def _output_published(self, line: str, seq: int, reason: int) -> None:
        if not delivered(reason):
            # No session of the line subscribed: it goes again with the line's next input.
            self._log.warning("bus.output_refused", line=line, out_seq=seq, reason=reason)
            self._sent[line] = min(self._sent.get(line, 0), seq - 1)
            return
        if seq > self._published.get(line, 0):
            self._published[line] = seq
            self._published_dirty[line] = seq
            if not self._save_scheduled:
                self._save_scheduled = True
                asyncio.get_running_loop().call_soon(self._save_published)

    def _save_published(self) -> None:
        self._save_scheduled = False
        if self._published_dirty:
            dirty, self._published_dirty = self._published_dirty, {}
            self._gw.journal.set_published(dirty)

    def _resend(self, line: str) -> None:
        """Publish what the broker has not taken of an MQTT line's outputs."""
        after = max(self._sent.get(line, 0), self._published.get(line, 0))
        if after >= self._gw.journal.last_out(line):
            return
        outputs = self._gw.journal.outputs_after(line, after)
        if outputs:
            self._log.info("bus.resend", line=line, first=outputs[0].seq, count=len(outputs))
            self.publish_outputs(outputs)

    async def _drain_outbox(self, client: BusClient) -> None:
        journal = self._gw.journal
        while True:
            await self._outbox_wake.wait()
            self._outbox_wake.clear()
            # Envelopes wait here for a home that is away rather than in the broker, which
            # would drop them if the home had never subscribed.
            lines = [line for line, home in self._homes.items()
                     if home != self.instance and home in self._live]
            while entries := journal.outbox(OUTBOX_BATCH, lines):
                reasons = await self._publish_all(client, entries)
                taken = [entry.id for entry in entries if delivered(reasons[entry.id])]
                journal.outbox_sent(taken)
                if len(taken) < len(entries):
                    self._log.warning("bus.outbox_refused", count=len(entries) - len(taken))
                    asyncio.get_running_loop().call_later(OUTBOX_RETRY_S, self._outbox_wake.set)
                    break

    async def _publish_all(self, client: BusClient, entries: list[OutboxEntry]) -> dict[int, int]:
        """Publish outbox entries in order (paho sends them so: a line's outputs reach its
        home in the order they were stored here); their PUBACK reason codes by entry id."""
        reasons: dict[int, int] = {}
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(ident: int, reason: int) -> None:
            reasons[ident] = reason
            if len(reasons) == len(entries) and not finished.done():
                finished.set_result(None)

        for entry in entries:
            client.publish_soon(route_topic(entry.output.line),
                                encode_envelope(self._origin, entry.id, entry.output),
                                functools.partial(done, entry.id))
        await finished
        return reasons
