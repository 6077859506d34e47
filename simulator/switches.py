"""Simulated state switches: one session per line that signs on, ACKs outputs and answers HB.

The transport is chosen by the target URL (``tcp://HOST:PORT`` or plain ``HOST:PORT``, or
``mqtt://HOST:PORT`` for lines on the MQTT bus); a transport is a connector under its URL
scheme in ``TRANSPORTS``. :class:`OwnOutputs` tells the outputs a run's own inputs caused from
what the gateway held for the lines before (docs/simulator.md, "Only the run's own traffic").
"""

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, cast
from urllib.parse import urlsplit

from formats.errors import MessageError
from formats.line_protocol import (
    TEXT,
    Ack,
    Codec,
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
from formats.message import format_input, parse_input
from formats.nlets_xml import XML
from formats.output import SEQ_WRAP, OutputMessage
from simulator.client import SignOnRejected

SIGNON_TIMEOUT = 10.0
# The start mark: an AM a line sends itself before any traffic (see OwnOutputs).
MARK_TEXT: Final = "IAQGW SIMULATION START"
# Its echo comes after the line's stored backlog, however long that is to deliver.
MARK_TIMEOUT: Final = 30.0
# Inputs of the run the gateway may have numbered twice (an MQTT line sends again a publish
# that an outage cut off), so answers to the last inputs of a run still count as its own.
RENUMBERED_ALLOWANCE: Final = 1000


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


# (target, line, key, handler, the codec the line reads its outputs with) -> a signed-on link.
Connector = Callable[[Target, str, str, Handler, Codec], Awaitable[SwitchLink]]


def xml_input(text: str) -> str:
    """An input as an XML line sends it: the same message as an Nlets XML document. A text
    that is no message (the mix's bad inputs) goes as it is: a broken switch sends that too."""
    try:
        return XML.write_input(parse_input(text))
    except MessageError:
        return text


class TcpSwitch(asyncio.Protocol):
    """A state switch line on TCP; outputs are acknowledged once per read."""

    def __init__(self, line: str, key: str, handler: Handler, codec: Codec = TEXT) -> None:
        self.line = line
        self.counters = LinkCounters()
        self._key = key
        self._handler = handler
        self._protocol = LineProtocol(Role.LINE, codec=codec)
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


async def connect_tcp(
    target: Target, line: str, key: str, handler: Handler, codec: Codec = TEXT
) -> SwitchLink:
    """Open a TCP session for ``line`` and sign on."""
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: TcpSwitch(line, key, handler, codec), target.host, target.port
        ),
        SIGNON_TIMEOUT,
    )
    try:
        await protocol.signed_on(SIGNON_TIMEOUT)
    except BaseException:
        await protocol.close()
        raise
    return protocol


async def connect_mqtt(
    target: Target, line: str, key: str, handler: Handler, codec: Codec = TEXT
) -> SwitchLink:
    """An MQTT line through the broker at ``target`` (simulator/mqtt_client.py)."""
    # Imported on use: the MQTT client builds on this module's SwitchLink and Handler.
    from simulator.mqtt_client import connect_mqtt as connect

    return await connect(target, line, key, handler, codec)


TRANSPORTS: dict[str, Connector] = {"tcp": connect_tcp, "mqtt": connect_mqtt}


async def connect_all(
    target: Target, keys: dict[str, str], handler: Handler, xml: Collection[str] = ()
) -> dict[str, SwitchLink]:
    """Sign every line on (all before any traffic, so no line sees an SM for a sibling); the
    lines in ``xml`` read their outputs as Nlets XML."""
    connector = TRANSPORTS[target.scheme]
    results = await asyncio.gather(
        *(connector(target, line, key, handler, XML if line in xml else TEXT)
          for line, key in keys.items()),
        return_exceptions=True,
    )
    links = {link.line: link for link in results if not isinstance(link, BaseException)}
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        await asyncio.gather(*(link.close() for link in links.values()), return_exceptions=True)
        raise failures[0]
    return links


class OwnOutputs:
    """Hands on only the outputs this run's inputs caused; counts the others in ``earlier``.

    A control field alone cannot tell: every run numbers its controls from 1, so an earlier run
    (with the same seed, even) used the same ones. Before any traffic each sending line sends
    itself an AM whose control field no run repeats, the start mark; the input sequence number
    its echo carries (header line 2, numbered per sending line, SPEC.md §4) is the mark's.
    After that an output is this run's when its control field is one this run sent and the
    input that caused it, numbered on the line that sent that control, came after the mark.
    The stored backlog delivered at sign-on, answers to earlier inputs (a technician's case
    still open) and other switches' traffic are left out.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._marks: dict[str, str] = {}  # line -> control field of its start mark
        self._echoes: dict[str, asyncio.Future[int]] = {}
        self._base: dict[str, int] = {}  # line -> input sequence number of its mark (5 digits)
        self._inputs: dict[str, int] = {}  # line -> inputs it sent after the mark
        self._senders: dict[str, str] = {}  # control field -> the line that sent it
        self.earlier = 0

    def __call__(self, delivered: Delivered) -> None:
        """The handler to give ``connect_all``: pass this run's outputs on."""
        message = delivered.message
        echo = self._echoes.get(delivered.line)
        if echo is not None and message.control == self._marks[delivered.line]:
            if not echo.done():
                echo.set_result(message.in_seq)
            return
        if self.is_own(message):
            self._handler(delivered)
        else:
            self.earlier += 1

    def is_own(self, message: OutputMessage) -> bool:
        """Whether an input of this run caused ``message``."""
        line = self._senders.get(message.control) if message.control else None
        if line is None or line not in self._base:
            return False
        after_mark = (message.in_seq - self._base[line]) % SEQ_WRAP
        return 0 < after_mark <= self._inputs[line] + RENUMBERED_ALLOWANCE

    def sent(self, line: str, control: str | None) -> None:
        """Note an input of the run (call it as the input goes out, after ``start``)."""
        if control:
            self._senders[control] = line
        self._inputs[line] = self._inputs.get(line, 0) + 1

    async def start(self, links: Mapping[str, SwitchLink], senders: Mapping[str, str]) -> None:
        """Send each line in ``senders`` its start mark (from the ORI given) and wait for all
        echoes; raises ConnectionError naming the lines whose echo did not come."""
        loop = asyncio.get_running_loop()
        for line, ori in senders.items():
            # "-" keeps it apart from the run's own control fields, which are letters and digits.
            mark = f"S-{secrets.token_hex(4).upper()}"
            self._marks[line] = mark
            self._echoes[line] = loop.create_future()
            links[line].send(format_input("AM", ori, [line], MARK_TEXT, mark))
        try:
            async with asyncio.timeout(MARK_TIMEOUT):
                for line, echo in self._echoes.items():
                    self._base[line] = await echo
        except TimeoutError:
            missing = ", ".join(line for line, echo in self._echoes.items() if not echo.done())
            raise ConnectionError(
                f"no echo of the start mark on {missing} within {MARK_TIMEOUT:g} s"
            ) from None
        self._inputs = dict.fromkeys(self._base, 0)
