"""aiomqtt's client plus what the bus needs of MQTT v5 that aiomqtt 2.5 does not hand out.

- The PUBACK reason code. mosquitto answers a QoS 1 publish that no subscription matched
  with 0x10 "No matching subscribers" and drops the message, and one the ACL refuses with
  0x87; aiomqtt's ``publish`` returns the same for those as for a delivered message.
- Publishing without a task and a wait per message (``publish_soon``): the gateway publishes
  every output, and aiomqtt's per-call bookkeeping grows with the calls in flight.
- Acknowledging a received message only once it is journaled (paho's manual ack), also for
  what the broker sends the moment a session resumes; aiomqtt has no switch for it yet
  (github.com/empicano/aiomqtt/issues/345).
- Socket callbacks that cannot land on another connection. aiomqtt registers paho's reader
  and writer with the loop later (``call_soon_threadsafe``) by file descriptor number; when the
  socket closes first and a reconnect reuses the number, the stale callback replaces the new
  connection's, which then stops reading or writing until a keepalive runs out. Here a late
  registration is dropped unless its socket is still the client's.

It reaches into aiomqtt (``_client``, ``_loop``, its paho callbacks), which is pinned to 2.5.1
for that.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties

from gateway.bus.topics import SEQ_PROPERTY

NO_MATCHING_SUBSCRIBERS = 0x10
QOS = 1


def delivered(reason: int) -> bool:
    """Whether a PUBACK reason code means the broker took the message for a subscriber."""
    return reason < 0x80 and reason != NO_MATCHING_SUBSCRIBERS


def _variable_int(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


class SeqProperties(Properties):
    """PUBLISH properties holding only the ``seq`` user property, packed once.

    paho builds a ``Properties`` in tens of microseconds and only ever calls ``pack`` on the
    ones it sends, so the gateway hands it the packed bytes (tests check them against paho).
    """

    def __init__(self, seq: int) -> None:
        # Properties.__init__ and __setattr__ are what is slow; nothing else reads them here.
        name, value = SEQ_PROPERTY.encode(), str(seq).encode()
        body = (b"\x26" + len(name).to_bytes(2, "big") + name
                + len(value).to_bytes(2, "big") + value)
        object.__setattr__(self, "_packed", _variable_int(len(body)) + body)

    def pack(self) -> bytes:
        """The properties as they go on the wire."""
        packed: bytes = object.__getattribute__(self, "_packed")
        return packed

    def __str__(self) -> str:
        return f"[UserProperty: [('{SEQ_PROPERTY}', ...)]]"


class BusClient(aiomqtt.Client):
    """An aiomqtt client with manual acknowledgements and PUBACK reason codes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client.manual_ack_set(True)
        self._done: dict[int, Callable[[int], None]] = {}

    def ack(self, message: aiomqtt.Message) -> None:
        """Acknowledge a received QoS 1 message (PUBACK) now that it is taken care of."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def publish_soon(
        self,
        topic: str,
        payload: bytes,
        done: Callable[[int], None] | None = None,
        *,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publish at QoS 1 now, in call order; ``done(reason)`` runs at the broker's PUBACK.

        ``done`` never runs when the connection goes first: what was published is then
        unknown, and the caller publishes again on the next connection.
        """
        info = self._client.publish(topic, payload, QOS, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if done is not None:
            self._done[info.mid] = done

    async def publish_acked(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> int:
        """Publish at QoS 1; the PUBACK's reason code (waits as long as the connection lives)."""
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def done(reason: int) -> None:
            if not answer.done():
                answer.set_result(reason)

        self.publish_soon(topic, payload, done, retain=retain, properties=properties)
        return await answer

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: Any,
        properties: Properties,
    ) -> None:
        done = self._done.pop(mid, None)
        if done is None:
            super()._on_publish(client, userdata, mid, reason_code, properties)
        else:
            done(int(getattr(reason_code, "value", reason_code)))

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def read() -> None:
            try:
                while True:
                    client.loop_read()
                    # An SSL socket may hold decoded bytes that loop_read left behind.
                    pending = getattr(client.socket(), "pending", None)
                    if pending is None or pending() <= 0:
                        break
            except Exception as exc:
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def register() -> None:
            if client.socket() is sock:
                self._loop.add_reader(sock.fileno(), read)
                self._misc_task = self._loop.create_task(self._misc_loop())

        # paho calls this from the executor thread that runs connect().
        self._loop.call_soon_threadsafe(register)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def write() -> None:
            try:
                client.loop_write()
            except Exception as exc:
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def register() -> None:
            if client.socket() is sock:
                self._loop.add_writer(sock.fileno(), write)

        self._loop.call_soon_threadsafe(register)
