"""Simulated state switches: one session per line that signs on, ACKs outputs and answers HB.

The transport is chosen by the target URL (``tcp://HOST:PORT`` or plain ``HOST:PORT``, or
``mqtt://HOST:PORT`` for lines on the MQTT bus); a transport is a connector under its URL
scheme in ``TRANSPORTS``.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, cast
from urllib.parse import urlsplit

from formats.line_protocol import (
    Ack,
    Event,
    Heartbeat,
    Input,
    LineProtocol,
    Received,
    Role,
    SignOnAccepted,
    SignOnRefused,
    SignOnRequest,
    Unreadable,
    Violation,
)
from formats.output import OutputMessage
from simulator.client import SignOnRejected

SIGNON_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where the simulated switches connect: URL scheme, host and port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_target(text: str) -> Target:
    """``HOST:PORT`` or ``SCHEME://HOST:PORT``; raises ValueError with a one-line reason."""
    url = urlsplit(text if "://" in text else f"tcp://{text}")
    try:
        port = url.port
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535") from None
    if not url.hostname or port is None:
        raise ValueError(f"{text!r} is not HOST:PORT or SCHEME://HOST:PORT")
    if url.scheme not in TRANSPORTS:
        known = ", ".join(f"{scheme}://" for scheme in sorted(TRANSPORTS))
        raise ValueError(f"{url.scheme}:// is not available in this build (use {known})")
    return Target(url.scheme, url.hostname, port)


@dataclass(frozen=True, slots=True)
class Delivered:
    """An output as a simulated switch received it (``seq`` is the full sequence number)."""

    line: str
    seq: int
    message: OutputMessage
    text: str
    at: float  # time.perf_counter() when it was read


Handler = Callable[[Delivered], None]


@dataclass(slots=True)
class LinkCounters:
    """What a line saw of the session itself (not of the messages)."""

    outputs: int = 0
    heartbeats_answered: int = 0
    duplicates: int = 0
    unreadable: int = 0
    closed_by_gateway: bool = False
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected, received)


class SwitchLink(Protocol):
    """A signed-on simulated line, whatever carries it."""

    line: str
    counters: LinkCounters

    def send(self, text: str) -> None:
        """Send one input text."""
        ...

    async def close(self) -> None:
        """End the session."""
        ...


Connector = Callable[[Target, str, str, Handler], Awaitable[SwitchLink]]


class TcpSwitch(asyncio.Protocol):
    """A state switch line on TCP; outputs are acknowledged once per read."""

    def __init__(self, line: str, key: str, handler: Handler) -> None:
        self.line = line
        self.counters = LinkCounters()
        self._key = key
        self._handler = handler
        self._protocol = LineProtocol(Role.LINE)
        self._transport: asyncio.Transport | None = None
        self._signed_on: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._closed = asyncio.get_running_loop().create_future()
        self._closing = False
        self.last_seq = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Sign on at once."""
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._protocol.send(SignOnRequest(self.line, self._key)))

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail a sign-on still waiting and wake ``close``."""
        if not self._signed_on.done():
            self._signed_on.set_exception(ConnectionError("gateway closed the connection"))
        self.counters.closed_by_gateway = not self._closing
        if not self._closed.done():
            self._closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        """Answer HB, hand outputs on, then acknowledge the last one with one ACK."""
        # uvloop's loop clock ticks in milliseconds: too coarse for latencies.
        read_at = time.perf_counter()
        acked = self.last_seq
        for event in self._protocol.receive_data(data):
            if isinstance(event, Received):
                self._output(event, read_at)
            elif isinstance(event, Heartbeat):
                # The simulated switch never probes, so every HB is the gateway's probe.
                self.counters.heartbeats_answered += 1
                self._send(Heartbeat(probe=False))
            elif isinstance(event, Unreadable):
                self.counters.unreadable += 1
            else:
                self._signon_answer(event)
        if self.last_seq != acked:
            self._send(Ack(self.last_seq))

    def _signon_answer(self, event: Event) -> None:
        if isinstance(event, SignOnAccepted):
            self.last_seq = event.last_ack
            self._signed_on.set_result(event.last_ack)
        elif isinstance(event, SignOnRefused):
            self._signed_on.set_exception(SignOnRejected(f"{self.line}: {event.reason}"))
        elif isinstance(event, Violation):
            self._signed_on.set_exception(ConnectionError(f"{self.line}: {event.reason}"))

    def _output(self, received: Received, read_at: float) -> None:
        seq = received.seq
        if seq <= self.last_seq:
            self.counters.duplicates += 1
            return
        if seq != self.last_seq + 1:
            self.counters.gaps.append((self.last_seq + 1, seq))
        self.last_seq = seq
        self.counters.outputs += 1
        self._handler(Delivered(self.line, seq, received.message, received.text, read_at))

    def send(self, text: str) -> None:
        """Send one framed text."""
        self._send(Input(text))

    def _send(self, event: Event) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(self._protocol.send(event))

    async def signed_on(self, timeout: float) -> int:
        """Wait for the sign-on answer; returns LASTACK or raises SignOnRejected."""
        return await asyncio.wait_for(asyncio.shield(self._signed_on), timeout)

    async def close(self) -> None:
        """Close and wait until the connection is gone."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()
            await asyncio.wait_for(asyncio.shield(self._closed), 5)


async def connect_tcp(target: Target, line: str, key: str, handler: Handler) -> SwitchLink:
    """Open a TCP session for ``line`` and sign on."""
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: TcpSwitch(line, key, handler), target.host, target.port
        ),
        SIGNON_TIMEOUT,
    )
    try:
        await protocol.signed_on(SIGNON_TIMEOUT)
    except BaseException:
        await protocol.close()
        raise
    return protocol


async def connect_mqtt(target: Target, line: str, key: str, handler: Handler) -> SwitchLink:
    """An MQTT line through the broker at ``target`` (simulator/mqtt_client.py)."""
    # Imported on use: the MQTT client builds on this module's SwitchLink and Handler.
    from simulator.mqtt_client import connect_mqtt as connect

    return await connect(target, line, key, handler)


TRANSPORTS: dict[str, Connector] = {"tcp": connect_tcp, "mqtt": connect_mqtt}


async def connect_all(
    target: Target, keys: dict[str, str], handler: Handler
) -> dict[str, SwitchLink]:
    """Sign every line on (all before any traffic, so no line sees an SM for a sibling)."""
    connector = TRANSPORTS[target.scheme]
    results = await asyncio.gather(
        *(connector(target, line, key, handler) for line, key in keys.items()),
        return_exceptions=True,
    )
    links = {link.line: link for link in results if not isinstance(link, BaseException)}
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        await asyncio.gather(*(link.close() for link in links.values()), return_exceptions=True)
        raise failures[0]
    return links
