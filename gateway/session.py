"""One connected state switch over TCP/TLS: the IO around the line protocol (SPEC.md §2).

formats/line_protocol.py decides what each frame means; a session moves the bytes, keeps the
write queue and its cut-off, and reports what the line does to its :class:`SessionHost`
(gateway/lines.py), which decides sign-ons and takes inputs and acknowledgements. It never
sees the gateway.
"""

import asyncio
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from formats.line_protocol import (
    Ack,
    Event,
    Heartbeat,
    Input,
    LineProtocol,
    Role,
    SignOnAccepted,
    SignOnRefused,
    SignOnRequest,
    Violation,
)
from gateway.journal import NumberedOutput

# A read this large means the line is sending faster than it is answered: see data_received.
FAIR_READ = 64 * 1024

_LINE_CODE = re.compile("[A-Z]{2}")


def certificate_line(cert: dict[str, Any] | None) -> str | None:
    """The line code a client certificate names: subject OU, else CN, when a line code."""
    if not cert:
        return None
    names: dict[str, str] = {}
    for rdn in cert.get("subject", ()):
        for name, value in rdn:
            names.setdefault(name, value)
    for attribute in ("organizationalUnitName", "commonName"):
        value = names.get(attribute, "")
        if _LINE_CODE.fullmatch(value):
            return value
    return None


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The settings a session reads."""

    # The longest message text a frame may carry.
    max_frame: int
    # Bytes a line may leave unread before the session waits (and, for live outputs, cuts
    # the line off).
    write_buffer_limit: int


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is at the other end: ``host:port``, the host, and the line its certificate names."""

    address: str = ""
    host: str = ""
    cert_line: str | None = None


# The answer to a sign-on: sent to the line as it is.
SignOnAnswer = SignOnAccepted | SignOnRefused


class SessionHost(Protocol):
    """All a session asks of the gateway (gateway/lines.py, ``LineDesk``)."""

    @property
    def settings(self) -> SessionSettings:
        """The settings sessions read."""
        ...

    @property
    def log(self) -> Any:
        """The structlog logger."""
        ...

    def loop_time(self) -> float:
        """Monotonic time for session timers."""
        ...

    def opened(self, session: "LineSession") -> None:
        """A connection is up: watch its sign-on, idle and heartbeat timers."""
        ...

    def gone(self, session: "LineSession") -> None:
        """The connection is lost: forget it."""
        ...

    def sign_on(
        self, request: SignOnRequest, peer: Peer, answer: Callable[[SignOnAnswer], None]
    ) -> None:
        """Decide a sign-on (the key, lockouts, the line's home) and call ``answer``, now or
        once the key is verified off the event loop."""
        ...

    def attach(self, line: str, session: "LineSession") -> None:
        """The session holds the line now: outputs go to it, the stored backlog first."""
        ...

    def detach(self, line: str, session: "LineSession") -> None:
        """The session no longer holds the line."""
        ...

    def backlog_page(self, line: str) -> bool:
        """Send the session the next page of the line's stored backlog; False when done."""
        ...

    def inputs(self, line: str, frames: list[tuple[str, str | None]]) -> None:
        """Journal, answer and deliver the inputs (text, framing fault) of a signed-on line,
        by the end of this loop iteration."""
        ...

    def acknowledge(self, line: str, seq: int) -> None:
        """Apply the line's cumulative acknowledgement."""
        ...


class LineSession(asyncio.Protocol):
    """The gateway's side of one TCP/TLS connection from a state switch."""

    def __init__(self, host: SessionHost) -> None:
        self._host = host
        self._log = host.log
        self._settings = host.settings
        self._protocol = LineProtocol(Role.GATEWAY, max_text=self._settings.max_frame)
        self._transport: asyncio.Transport | None = None
        self.opened_at = 0.0
        self.last_rx = 0.0
        self.closed = False
        self.peer = Peer()
        # Output frames not written yet (frame, live), and the bytes of the live ones: what
        # waits beyond the transport's buffer while the line reads slowly or not at all.
        self._queue: deque[tuple[bytes, bool]] = deque()
        self._live_waiting = 0
        self._pumping = False

    @property
    def line(self) -> str | None:
        """The line code once signed on."""
        return self._protocol.line

    @property
    def hb_outstanding(self) -> bool:
        """True while the HB probe sent to a quiet line waits for its answer."""
        return self._protocol.probe_outstanding

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the sign-on clock."""
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        # pause_writing/resume_writing at the buffer limit: resume_writing writes what waits.
        self._transport.set_write_buffer_limits(high=self._settings.write_buffer_limit)
        self.opened_at = self.last_rx = self._host.loop_time()
        peer = transport.get_extra_info("peername")
        self.peer = Peer(
            f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer),
            peer[0] if isinstance(peer, tuple) else str(peer),
            certificate_line(transport.get_extra_info("peercert")),
        )
        self._host.opened(self)

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the protocol and act on the events of the frames they complete."""
        self.last_rx = self._host.loop_time()
        events = self._protocol.receive_data(data)
        took_inputs = self._guarded(events) if events else False
        if (took_inputs or len(data) >= FAIR_READ) and self._transport is not None and (
            not self.closed
        ):
            # The event loop reads a busy socket up to 32 times in a row; a line sending
            # flat out would hold every other line up for as long. The desk answers inputs
            # at the end of the iteration (before this resume, scheduled after it): one read
            # per line and iteration bounds the batch, keeps the others' latency and holds a
            # line to the pace of its answers (docs/reliability.md, "Abuse").
            self._transport.pause_reading()
            asyncio.get_running_loop().call_soon(self._resume_reading)

    def _resume_reading(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    def _guarded(self, events: list[Event]) -> bool:
        """Act on the events; True when inputs went to the host."""
        try:
            return self._events(events)
        except Exception:
            # A fault in the switch must not take the process down with it; the input is
            # journaled and will be answered on recovery.
            self._log.exception("session.error", line=self.line, peer=self.peer.address)
            self.close("internal error")
            return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the line."""
        self.closed = True
        self._protocol.close()
        self._host.gone(self)
        if self.line is not None:
            self._host.detach(self.line, self)
        self._log.info("session.closed", line=self.line, peer=self.peer.address)

    # events

    def _events(self, events: list[Event]) -> bool:
        batch: list[tuple[str, str | None]] = []
        ack: int | None = None
        for event in events:
            if isinstance(event, Input):
                batch.append((event.text, event.fault))
            elif isinstance(event, Ack):
                ack = event.seq if ack is None else max(ack, event.seq)
            elif isinstance(event, Heartbeat):
                if event.probe:
                    self._send(Heartbeat(probe=False))
            elif isinstance(event, SignOnRequest):
                # Frames that arrive meanwhile wait in the protocol until the answer is sent.
                self._host.sign_on(event, self.peer, self._signon_answered)
            elif isinstance(event, Violation):
                self._reject(event.reason)
        line = self.line
        if line is None:
            return False
        if ack is not None:
            self._host.acknowledge(line, ack)
        if batch:
            self._host.inputs(line, batch)
        return bool(batch)

    # sign-on

    def _signon_answered(self, answer: SignOnAnswer) -> None:
        if isinstance(answer, SignOnRefused):
            return self._reject(answer.reason)
        if self.closed:
            return
        self._send(answer)
        self._log.info("session.signon", line=answer.line, peer=self.peer.address,
                       last_ack=answer.last_ack)
        self._host.attach(answer.line, self)
        # The stored backlog is paged in by the pump as the line takes it.
        self._pump()
        held = self._protocol.held_events()
        if held:
            self._guarded(held)

    def _reject(self, reason: str) -> None:
        self._send(SignOnRefused(reason))
        self.close(f"signon rejected: {reason.lower()}")

    # output

    def _send(self, event: Event) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(self._protocol.send(event))

    def send_outputs(self, outputs: Sequence[NumberedOutput], live: bool = True) -> None:
        """Queue outputs and write what the line takes; cut off a line that stops reading.

        Only ``live`` outputs count towards the cut-off: the stored backlog is paged in as
        the line reads, however large it is.
        """
        transport = self._transport
        if transport is None or self.closed:
            return
        texts = [output.text for output in outputs]
        if not self._queue and not self._pumping:
            block = self._protocol.output_block(texts)
            if transport.get_write_buffer_size() + len(block) <= self._settings.write_buffer_limit:
                # Nothing waits and all of them fit: what the pump would write, without
                # queueing each frame first (most batches, on a line that reads).
                transport.write(block)
                return
        # Cut off: new outputs waiting past the limit on top of a full buffer. They stay
        # stored and are sent again after the next sign-on.
        for frame in self._protocol.output_frames(texts):
            self._queue.append((frame, live))
            if live:
                self._live_waiting += len(frame)
        self._pump()
        if self._live_waiting > self._settings.write_buffer_limit:
            self._log.warning("session.slow_reader", line=self.line, peer=self.peer.address)
            self.close("output buffer full", abort=True)

    def _pump(self) -> None:
        """Write waiting frames, then backlog pages, until the transport's buffer is full."""
        # Past the limit the transport pauses this protocol; resume_writing comes back here.
        # A backlog page arrives through send_outputs, which calls back in: the flag keeps
        # that a loop here rather than a recursion.
        if self._pumping:
            return
        self._pumping = True
        try:
            transport = self._transport
            limit = self._settings.write_buffer_limit
            while transport is not None and not self.closed:
                if transport.get_write_buffer_size() > limit:
                    break
                if not self._queue:
                    if self.line is None or not self._host.backlog_page(self.line):
                        break
                    continue
                room = limit + 1 - transport.get_write_buffer_size()
                chunk = []
                while self._queue and room > 0:
                    frame, live = self._queue.popleft()
                    chunk.append(frame)
                    room -= len(frame)
                    if live:
                        self._live_waiting -= len(frame)
                transport.write(b"".join(chunk))
        finally:
            self._pumping = False

    def resume_writing(self) -> None:
        """The line took what was written: write what waits."""
        if not self.closed:
            self._pump()

    def write_buffer_size(self) -> int:
        """Bytes written to the line that the network has not taken yet."""
        return self._transport.get_write_buffer_size() if self._transport is not None else 0

    def send_heartbeat(self) -> None:
        """Probe a quiet line; its HB answer is not answered again."""
        self._send(Heartbeat(probe=True))

    def close(self, reason: str, abort: bool = False) -> None:
        """End the session (after flushing what is written, unless aborting)."""
        if self.closed or self._transport is None:
            return
        self.closed = True
        self._protocol.close()
        self._log.info("session.closing", line=self.line, peer=self.peer.address, reason=reason)
        if self.line is not None:
            self._host.detach(self.line, self)
        if abort:
            self._transport.abort()
        else:
            self._transport.close()

