"""The MQTT bus (SPEC.md §7): lines on MQTT, and several instances sharing the work.

One MQTT connection per instance (gateway/bus/client.py), MQTT v5, QoS 1, a persistent
session (clean start off, a session that never expires) so that what arrives while the
instance is away waits for it in the broker. It carries:

- inputs of MQTT lines, ``$share/iaqgw/nlets/v1/in/+``: journaled and answered here like a
  TCP line's, then acknowledged to the broker (PUBACK only after the journal commit);
- outputs for lines whose home is another instance: taken from the outbox (gateway/bus/store.py),
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
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any, NoReturn, Protocol

import orjson
from paho.mqtt.client import MQTTMessage

from formats.line_protocol import Ack, Input, LineProtocol, Role
from gateway.bus import Homes
from gateway.bus.backoff import Backoff
from gateway.bus.client import CALL_TIMEOUT_S, BusClient, BusError, Will, delivered
from gateway.bus.lines import BusLines
from gateway.bus.store import BusStore, OutboxEntry
from gateway.bus.topics import (
    INSTANCES_FILTER,
    PRESENCE_FILTER,
    SHARED_INPUT,
    instance_topic,
    last_level,
    route_topic,
)
from gateway.config import Settings
from gateway.journal import NumberedOutput, PendingOutput
from gateway.store import DATABASE_ERRORS, first_line

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


class LineInputs(Protocol):
    """Where MQTT lines' inputs and acknowledgements go: as a TCP line's do."""

    def answer(self, batch: list[tuple[str, list[tuple[str, str | None]]]]) -> None:
        """Journal, answer and deliver the inputs of signed-on lines now, in one batch."""
        ...

    def acknowledge(self, line: str, seq: int) -> None:
        """Apply a line's cumulative acknowledgement."""
        ...


class MqttBus:
    """The gateway's side of the broker: the connection, inputs, envelopes and the outbox."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        settings: Settings,
        homes: Homes,
        lines: BusLines,
        store: BusStore,
        inputs: LineInputs,
        deliver: Callable[[Iterable[NumberedOutput]], None],
        log: Any,
    ) -> None:
        self._host, self._port = address
        self._settings = settings
        self._homes = homes
        self._instance = homes.instance
        self._lines = lines
        self._store = store
        self._inputs = inputs
        self._deliver = deliver
        self._log = log
        self._origin = store.origin()
        self._client: BusClient | None = None
        self._runner: asyncio.Task[None] | None = None
        # Broker sessions of dead instances this one claimed, taken over (_adopt_sessions).
        self._adopted: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = asyncio.Event()
        self._token = ""
        # The broker signed each line on (its login), so a line's protocol starts signed on.
        self._protocols = {
            code: LineProtocol(Role.GATEWAY, max_text=settings.max_frame, line=code)
            for code in homes.lines()
        }

    async def wait_connected(self, timeout: float) -> None:
        """Wait until the broker connection is up (for tests and tools)."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def start(self) -> None:
        """Connect in the background: the gateway serves TCP lines with or without a broker."""
        if len(self._homes.instances) > 1:
            self._log.info("bus.homes", instance=self._instance, lines=len(self._homes.here()),
                           instances=",".join(self._homes.instances))
        self._runner = asyncio.create_task(self._run())
        self._adopt_sessions()

    async def stop(self) -> None:
        """Let pending publishes finish (briefly), say goodbye, disconnect."""
        if self._runner is None:
            return
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                # Published after everything before it, so its PUBACK says all went out.
                await asyncio.wait_for(
                    client.publish_acked(instance_topic(self._instance), self._left(),
                                         retain=True),
                    STOP_GRACE_S,
                )
        for task in (self._runner, *self._adopted.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._adopted.clear()
        self._runner = None
        self._lines.save_published()

    def homes_moved(self, gained: list[str], lost: list[str]) -> None:
        """Take the routes of lines homed here now, let go of those homed elsewhere now, number
        what waits in the outbox for lines homed here now, and look at the outbox again (its
        entries may have a live home now)."""
        self._deliver(self._store.take_over(self._origin, gained))
        client = self._client
        if client is not None:
            self._spawn(self._reroute(client, gained, lost))
        self._adopt_sessions()
        self._store.wake()

    async def _reroute(self, client: BusClient, gained: list[str], lost: list[str]) -> None:
        if gained:
            await client.subscribe([route_topic(line) for line in gained])
        if lost:
            await client.unsubscribe([route_topic(line) for line in lost])

    # connection

    def _left(self) -> bytes:
        return orjson.dumps({"left": self._token})

    def _new_client(self) -> BusClient:
        self._token = uuid.uuid4().hex
        # The broker marks this connection gone when it vanishes.
        return self._connection(
            self._instance, Will(instance_topic(self._instance), self._left(), retain=True)
        )

    def _connection(self, instance: str, will: Will | None) -> BusClient:
        """A connection with the broker session of ``instance`` (this one's, or an adopted
        one's)."""
        settings = self._settings
        return BusClient(
            self._host,
            self._port,
            identifier=f"iaqgw-{instance}",
            username=settings.bus_user,
            password=settings.bus_password,
            keepalive=KEEPALIVE_S,
            session_expiry=SESSION_NEVER_EXPIRES,
            will=will,
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
            except DATABASE_ERRORS as exc:
                # A batch the journal refused (_take): the broker sends it again after this.
                delay = backoff.next()
                self._log.error("bus.journal_failed", error=first_line(exc),
                                retry_s=round(delay, 2))
            except Exception:
                # Whatever went wrong, the gateway keeps its TCP lines and tries the broker again.
                delay = backoff.next()
                self._log.exception("bus.error", retry_s=round(delay, 2))
            finally:
                self._client = None
                self._lines.disconnected()
                self._connected.clear()
                for task in list(self._tasks):
                    task.cancel()
            await asyncio.sleep(delay)

    async def _serve(self, client: BusClient) -> NoReturn:
        topics = [SHARED_INPUT, PRESENCE_FILTER, INSTANCES_FILTER]
        topics += [route_topic(line) for line in self._homes.here()]
        await client.subscribe(topics)
        foreign = [route_topic(line) for line, _ in self._homes.elsewhere()]
        if foreign:
            # The session keeps subscriptions; after a change of the instance list, routes of
            # lines that moved away must stop coming here.
            await client.unsubscribe(foreign)
        # Bounded: a publish cut off with its connection is never acknowledged.
        await asyncio.wait_for(
            client.publish_acked(
                instance_topic(self._instance),
                orjson.dumps({"instances": list(self._homes.instances), "token": self._token}),
                retain=True,
            ),
            CALL_TIMEOUT_S,
        )
        self._client = client
        self._lines.connected(client)
        self._connected.set()
        self._log.info("bus.connected", host=self._host, port=self._port,
                       instance=self._instance)
        self._spawn(self._drain_outbox(client))
        self._store.wake()
        while True:
            self._take(client, await client.receive(INPUT_BATCH))

    def _adopt_sessions(self) -> None:
        """Take over the broker sessions of the dead instances this one claimed
        (gateway/bus/leases.py: one instance claims each).

        mosquitto keeps dealing shared-subscription inputs to a member whose session waits
        offline, and keeps the envelopes routed to it: the adopter takes them (the session's
        own subscriptions) and answers them as its own. It lets go when the claim ends (the
        instance renewed its lease); the instance's own connection takes its session back in
        any case.
        """
        adopted = self._homes.adopted
        for name in [name for name in self._adopted if name not in adopted]:
            self._adopted.pop(name).cancel()
        for name in adopted:
            if name not in self._adopted:
                self._adopted[name] = asyncio.create_task(self._adopt(name))

    async def _adopt(self, name: str) -> None:
        backoff = Backoff(BACKOFF_MIN_S, BACKOFF_MAX_S)
        while True:
            try:
                async with self._connection(name, None) as client:
                    self._log.warning("bus.session_adopted", instance=name)
                    while True:
                        self._take(client, await client.receive(INPUT_BATCH))
            except DATABASE_ERRORS as exc:
                # What the journal could not take waits in the session: take it up again.
                delay = backoff.next()
                self._log.warning("bus.adoption_paused", instance=name,
                                  error=first_line(exc), retry_s=round(delay, 2))
                await asyncio.sleep(delay)
            except (BusError, TimeoutError, OSError) as exc:
                # Once: the instance came back (and took its session), or the broker went away.
                self._log.info("bus.adoption_ended", instance=name,
                               error=str(exc) or type(exc).__name__)
                return

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
                    self._lines.on_presence(last_level(topic), payload.decode("ascii", "replace"))
                elif topic.startswith(_INSTANCES_PREFIX):
                    self._lines.on_instance(last_level(topic), payload)
            except (ValueError, KeyError, TypeError) as exc:
                self._log.warning("bus.bad_message", topic=topic, error=str(exc))
        try:
            if inputs:
                self._inputs.answer(list(inputs.items()))
            for origin, entries in envelopes.items():
                self._deliver(self._store.store_remote(origin, entries))
        except DATABASE_ERRORS:
            # The journal failed, not a message: nothing of the batch is acknowledged (some of
            # it may not be journaled), the connection ends, and the broker sends the batch
            # again to the next one (what was journaled may be answered twice: at-least-once).
            raise
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
        self._lines.input_seen(line)
        frames = inputs.setdefault(line, [])
        # A SIGNON here is one too many (ER 0); HB needs no answer on MQTT: the broker's
        # keepalive watches the line.
        for event in protocol.receive_payload(payload):
            if isinstance(event, Ack):
                self._ack(line, event.seq)
            elif isinstance(event, Input):
                frames.append((event.text, event.fault))

    def _ack(self, line: str, seq: int) -> None:
        if self._homes.is_remote(line):
            self._lines.publish(route_topic(line), encode_ack(line, seq))
        else:
            self._inputs.acknowledge(line, seq)

    def _envelope(
        self, topic: str, payload: bytes, envelopes: dict[str, list[tuple[int, PendingOutput]]]
    ) -> None:
        line = last_level(topic)
        if self._homes.is_remote(line):
            # Left in this session from before a change of the instance list: pass it on to
            # the home, which is subscribed now (and drops it if it has it already).
            self._log.info("bus.rerouted", line=line, home=self._homes.home_of(line))
            self._lines.publish(topic, payload)
            return
        envelope = orjson.loads(payload)
        if envelope["kind"] == "ack":
            self._inputs.acknowledge(line, int(envelope["seq"]))
            return
        pending = decode_pending(envelope)
        if pending.line != line:
            raise ValueError(f"envelope for {pending.line} on the route of {line}")
        envelopes.setdefault(str(envelope["origin"]), []).append((int(envelope["id"]), pending))

    async def _drain_outbox(self, client: BusClient) -> None:
        store = self._store
        while True:
            await store.woken()
            # Envelopes wait here for a home that is away rather than in the broker, which
            # would drop them if the home had never subscribed.
            # An instance waiting to join keeps its envelopes: the homes it knows may have let
            # their lines go (gateway/bus/leases.py).
            lines = [line for line, home in self._homes.elsewhere()
                     if self._homes.joined and self._lines.is_live(home)]
            while entries := store.outbox(OUTBOX_BATCH, lines):
                reasons = await self._publish_all(client, entries)
                taken = [entry.id for entry in entries if delivered(reasons[entry.id])]
                store.outbox_sent(taken)
                if len(taken) < len(entries):
                    self._log.warning("bus.outbox_refused", count=len(entries) - len(taken))
                    asyncio.get_running_loop().call_later(OUTBOX_RETRY_S, store.wake)
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
