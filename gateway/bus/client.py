"""One MQTT v5 connection on paho-mqtt's public API, driven by the asyncio loop.

The bus needs three things of MQTT that aiomqtt 2.5's public API does not give
(docs/scale-out.md, "The MQTT client"):

- The PUBACK reason code. mosquitto answers a QoS 1 publish that no subscription matched with
  0x10 "No matching subscribers" and drops the message, and one the ACL refuses with 0x87.
- Publishing without a task and a wait per message (``publish_soon``): the gateway publishes
  every output. How many publishes wait for their PUBACK at once is kept here, to the
  broker's Receive Maximum, with a queue: paho's own limit rescans every message in flight
  at each PUBACK, the largest single cost in a profile of the gateway under MQTT load.
- Acknowledging a received message only once it is journaled (paho's ``manual_ack``), also
  for what the broker sends the moment a session resumes.

paho documents this use: its sockets are watched by an outside event loop through
``on_socket_open``, ``on_socket_close``, ``on_socket_register_write`` and
``on_socket_unregister_write``, which call ``loop_read``, ``loop_write`` and, every second,
``loop_misc``. ``connect`` blocks (name lookup, TCP handshake), so it runs in a worker thread,
and paho reports the new socket from there: the registration reaches the loop later, and is
dropped unless the socket is still the client's, so that it can never land on another
connection that reused the file descriptor number.

One ``BusClient`` is one connection: after it ends, make a new one.
"""

import asyncio
import contextlib
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.bus.topics import SEQ_PROPERTY

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

QOS: Final = 1
NO_MATCHING_SUBSCRIBERS: Final = 0x10
# CONNACK reason codes for an account the broker refuses (bad name or password, not authorized).
REFUSED: Final = frozenset({0x86, 0x87})
# Longest wait for the broker to answer CONNECT, SUBSCRIBE, UNSUBSCRIBE, or to see DISCONNECT.
CALL_TIMEOUT_S: Final = 10.0
# MQTT v5: the Receive Maximum of a broker that names none.
RECEIVE_MAXIMUM: Final = 65_535
MISC_PERIOD_S: Final = 1.0

# paho's Properties constructor carries no annotations; this is its signature.
_new_properties = cast(Callable[[int], Properties], Properties)
_T = TypeVar("_T")


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


class BusError(Exception):
    """The connection could not be made, or it ended, or the broker did not answer in time."""


class ConnectRefused(BusError):
    """The broker answered CONNECT with a failure reason code (``reason``)."""

    def __init__(self, reason: int, text: str) -> None:
        super().__init__(f"connection refused: {text} (0x{reason:02x})")
        self.reason = reason


class _Publish(NamedTuple):
    topic: str
    payload: bytes
    retain: bool
    properties: Properties | None
    done: Callable[[int], None] | None


@dataclass(frozen=True, slots=True)
class Will:
    """What the broker publishes (QoS 1) for this client when its connection dies."""

    topic: str
    payload: bytes
    retain: bool = False


class BusClient:
    """One MQTT v5 connection with manual acknowledgements and PUBACK reason codes."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        identifier: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 60,
        session_expiry: int | None = None,
        will: Will | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._keepalive = keepalive
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=identifier, protocol=paho.MQTTv5,
            reconnect_on_failure=False, manual_ack=True,
        )
        # No limit in paho: publish_soon keeps to the broker's (see the docstring).
        client.max_inflight_messages_set(0)
        if username is not None:
            client.username_pw_set(username, password)
        if will is not None:
            client.will_set(will.topic, will.payload, QOS, will.retain)
        self._properties: Properties | None = None
        if session_expiry is not None:
            properties = _new_properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = session_expiry
            self._properties = properties
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_answer
        client.on_unsubscribe = self._on_answer
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self._paho = client
        self._connack: asyncio.Future[ReasonCode] = self._loop.create_future()
        # Resolved (never with an exception) when the connection ends; _error says why.
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._error: BusError | None = None
        self._leaving = False
        self._dropped = False
        self._inbox: deque[paho.MQTTMessage] = deque()
        self._arrived = asyncio.Event()
        self._done: dict[int, Callable[[int], None]] = {}
        # Publishes in flight (sent, no PUBACK yet), how many the broker takes, and those that
        # wait for room, in call order.
        self._in_flight = 0
        self._room = RECEIVE_MAXIMUM
        self._waiting: deque[_Publish] = deque()
        self._calls: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        # The socket watched for reading or writing, with its file descriptor number then.
        self._reading: tuple[SocketLike, int] | None = None
        self._writing: tuple[SocketLike, int] | None = None
        self._misc: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "BusClient":
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # the connection

    async def connect(self) -> None:
        """Open the connection and wait for the broker's CONNACK.

        Raises ConnectRefused when the broker refuses, BusError when it cannot be reached.
        """
        try:
            await self._loop.run_in_executor(None, self._open)
            reason = await self._wait(self._connack, CALL_TIMEOUT_S)
        except OSError as exc:
            self._drop()
            raise BusError(str(exc) or type(exc).__name__) from None
        except BaseException:
            self._drop()
            raise
        if reason.is_failure:
            self._drop()
            raise ConnectRefused(reason.value, str(reason))

    def _open(self) -> None:
        """Connect (in a worker thread: it blocks); the socket goes again if the wait for it
        was given up meanwhile."""
        self._paho.connect(self._host, self._port, self._keepalive, clean_start=False,
                           properties=self._properties)
        if self._dropped:
            self._close_socket()

    async def close(self) -> None:
        """Say DISCONNECT (the broker then drops the will) and close the socket."""
        try:
            if not self._lost.done() and self._connack.done():
                self._leaving = True
                if self._paho.disconnect() == paho.MQTT_ERR_SUCCESS:
                    with contextlib.suppress(BusError):
                        await self._wait(self._lost, CALL_TIMEOUT_S)
        finally:
            self._drop()

    def _end(self, error: BusError | None) -> None:
        if self._lost.done():
            return
        self._error = error
        self._lost.set_result(None)
        self._arrived.set()

    def _lost_error(self) -> BusError:
        return self._error or BusError("the connection was closed")

    def _drop(self) -> None:
        """Stop watching the socket, and close it if paho has not."""
        self._dropped = True
        self._unwatch()
        client = self._paho
        # Nothing may reach the loop from this client any more (paho closes its socket again
        # when it is collected, maybe after the loop).
        client.on_socket_close = None
        client.on_socket_unregister_write = None
        self._close_socket()
        self._end(None)

    def _close_socket(self) -> None:
        sock = self._paho.socket()
        if sock is not None:
            sock.close()

    async def _wait(self, answer: "asyncio.Future[_T]", timeout: float | None) -> _T:
        """``answer``'s result; BusError when the connection ends first or time runs out."""
        if not answer.done():
            await asyncio.wait((answer, self._lost), timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        if self._lost.done():
            raise self._lost_error()
        raise BusError("the broker did not answer in time")

    # receiving

    async def receive(self, most: int) -> list[paho.MQTTMessage]:
        """The messages that have arrived (at least one, at most ``most``), in order.

        Raises BusError once the connection has ended and every message before the end is
        taken. Acknowledge each with :meth:`ack` once it is taken care of.
        """
        inbox = self._inbox
        while not inbox:
            if self._lost.done():
                raise self._lost_error()
            self._arrived.clear()
            await self._arrived.wait()
        return [inbox.popleft() for _ in range(min(most, len(inbox)))]

    def ack(self, message: paho.MQTTMessage) -> None:
        """Acknowledge a received QoS 1 message (PUBACK) now that it is taken care of."""
        if message.qos > 0:
            self._paho.ack(message.mid, message.qos)

    # sending

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
        if self._lost.done():
            raise self._lost_error()
        if self._waiting or self._in_flight >= self._room:
            self._waiting.append(_Publish(topic, payload, retain, properties, done))
        else:
            self._send(topic, payload, retain, properties, done)

    def _send(self, topic: str, payload: bytes, retain: bool, properties: Properties | None,
              done: Callable[[int], None] | None) -> None:
        info = self._paho.publish(topic, payload, QOS, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise BusError(f"could not publish: {paho.error_string(info.rc)}")
        self._in_flight += 1
        if done is not None:
            self._done[info.mid] = done

    def _send_waiting(self) -> None:
        waiting = self._waiting
        try:
            while waiting and self._in_flight < self._room:
                self._send(*waiting.popleft())
        except BusError:
            # The connection is going: what waited is never sent (its done never runs).
            waiting.clear()

    async def publish_acked(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> int:
        """Publish at QoS 1; the PUBACK's reason code (BusError if the connection goes first)."""
        answer: asyncio.Future[int] = self._loop.create_future()

        def done(reason: int) -> None:
            if not answer.done():
                answer.set_result(reason)

        self.publish_soon(topic, payload, done, retain=retain, properties=properties)
        return await self._wait(answer, None)

    async def subscribe(self, topics: Sequence[str]) -> list[ReasonCode]:
        """Subscribe to ``topics`` at QoS 1; the SUBACK's reason code for each."""
        options = SubscribeOptions(qos=QOS)
        result, mid = self._paho.subscribe([(topic, options) for topic in topics])
        return await self._call(result, mid)

    async def unsubscribe(self, topics: Sequence[str]) -> list[ReasonCode]:
        """Unsubscribe from ``topics``; the UNSUBACK's reason code for each."""
        result, mid = self._paho.unsubscribe(list(topics))
        return await self._call(result, mid)

    async def _call(self, result: MQTTErrorCode, mid: int | None) -> list[ReasonCode]:
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            raise BusError(f"could not send: {paho.error_string(result)}")
        answer: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._calls[mid] = answer
        try:
            return await self._wait(answer, CALL_TIMEOUT_S)
        finally:
            self._calls.pop(mid, None)

    # paho's callbacks: on the loop's thread, except the socket's opening (see the docstring)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if not self._connack.done():
            self._room = getattr(properties, "ReceiveMaximum", RECEIVE_MAXIMUM)
            self._connack.set_result(reason)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: paho.DisconnectFlags,
                       reason: ReasonCode, properties: Properties | None) -> None:
        if self._leaving and reason.value == 0:
            self._end(None)
        else:
            self._end(BusError(f"connection lost: {reason}"))

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._inbox.append(message)
        self._arrived.set()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Properties) -> None:
        self._in_flight -= 1
        done = self._done.pop(mid, None)
        if done is not None:
            done(reason.value)
        if self._waiting:
            self._send_waiting()

    def _on_answer(self, client: paho.Client, userdata: Any, mid: int,
                   reasons: list[ReasonCode], properties: Properties | None) -> None:
        """SUBACK or UNSUBACK."""
        answer = self._calls.get(mid)
        if answer is not None and not answer.done():
            answer.set_result(reasons)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: "SocketLike") -> None:
        self._in_loop(self._watch_reads, sock)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: "SocketLike") -> None:
        self._in_loop(self._unwatch_socket, sock)

    def _on_socket_register_write(
        self, client: paho.Client, userdata: Any, sock: "SocketLike"
    ) -> None:
        self._in_loop(self._watch_writes, sock)

    def _on_socket_unregister_write(
        self, client: paho.Client, userdata: Any, sock: "SocketLike"
    ) -> None:
        self._in_loop(self._unwatch_writes, sock)

    def _in_loop(self, action: Callable[["SocketLike"], None], sock: "SocketLike") -> None:
        if threading.get_ident() == self._loop_thread:
            action(sock)
        else:
            self._loop.call_soon_threadsafe(action, sock)

    # the socket in the loop

    def _current(self, sock: "SocketLike") -> bool:
        """Whether ``sock`` is this client's open socket (a late callback may name a closed one,
        whose file descriptor number another connection may hold by now)."""
        return not self._dropped and self._paho.socket() is sock

    def _watch_reads(self, sock: "SocketLike") -> None:
        if self._current(sock) and self._reading is None:
            fd = sock.fileno()
            self._loop.add_reader(fd, self._read)
            self._reading = (sock, fd)
            self._misc = self._loop.create_task(self._housekeeping())

    def _watch_writes(self, sock: "SocketLike") -> None:
        if self._current(sock) and self._writing is None:
            fd = sock.fileno()
            self._loop.add_writer(fd, self._write)
            self._writing = (sock, fd)

    def _unwatch_writes(self, sock: "SocketLike") -> None:
        if self._writing is not None and self._writing[0] is sock:
            self._loop.remove_writer(self._writing[1])
            self._writing = None

    def _unwatch_socket(self, sock: "SocketLike") -> None:
        if any(watched is not None and watched[0] is sock
               for watched in (self._reading, self._writing)):
            self._unwatch()

    def _unwatch(self) -> None:
        if self._reading is not None:
            self._loop.remove_reader(self._reading[1])
            self._reading = None
        if self._writing is not None:
            self._loop.remove_writer(self._writing[1])
            self._writing = None
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _read(self) -> None:
        client = self._paho
        try:
            while True:
                client.loop_read()
                # An SSL socket may hold decoded bytes that loop_read left behind.
                pending = getattr(client.socket(), "pending", None)
                if pending is None or pending() <= 0:
                    break
        except Exception as exc:
            self._unwatch()
            self._end(BusError(f"reading from the broker: {exc!r}"))
            return
        # uvloop closes a socket's watch for good when the socket reports an error (a reset)
        # and runs this reader once more first: data read before the error leaves the error
        # unseen by paho, and without this the connection would hang until its next write
        # found the closed watch.
        sock = client.socket()
        error = (sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                 if isinstance(sock, socket.socket) else 0)
        if error:
            self._unwatch()
            self._end(BusError(f"connection lost: {os.strerror(error)}"))

    def _write(self) -> None:
        try:
            self._paho.loop_write()
        except Exception as exc:
            self._unwatch()
            self._end(BusError(f"writing to the broker: {exc!r}"))

    async def _housekeeping(self) -> None:
        """Keepalive pings, and the end of a connection whose pings go unanswered."""
        while self._paho.loop_misc() == paho.MQTT_ERR_SUCCESS:
            await asyncio.sleep(MISC_PERIOD_S)
