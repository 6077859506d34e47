"""One connected state switch over TCP/TLS: the IO around the line protocol (SPEC.md §2).

formats/line_protocol.py decides what each frame means; a session moves the bytes, keeps the
timers, the write queue and its cut-off, and verifies keys off the event loop.
"""

import asyncio
import hashlib
import re
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from formats.line_protocol import (
    Ack,
    Event,
    Heartbeat,
    Input,
    LineProtocol,
    Output,
    Role,
    SignOnAccepted,
    SignOnRefused,
    SignOnRequest,
    Violation,
)
from gateway.journal import StoredOutput
from routing.lines import verify_key

if TYPE_CHECKING:
    from gateway.app import Gateway

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


class LineSession(asyncio.Protocol):
    """The gateway's side of one TCP/TLS connection from a state switch."""

    def __init__(self, gateway: "Gateway") -> None:
        self._gw = gateway
        self._protocol = LineProtocol(Role.GATEWAY, max_text=gateway.settings.max_frame)
        self._transport: asyncio.Transport | None = None
        self.opened_at = 0.0
        self.last_rx = 0.0
        self.closed = False
        self.peer = ""
        self.peer_host = ""
        self.cert_line: str | None = None
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
        self._transport.set_write_buffer_limits(high=self._gw.settings.write_buffer_limit)
        self.opened_at = self.last_rx = self._gw.loop_time()
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.peer_host = peer[0] if isinstance(peer, tuple) else str(peer)
        self.cert_line = certificate_line(transport.get_extra_info("peercert"))
        self._gw.sessions.add(self)

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the protocol and act on the events of the frames they complete."""
        self.last_rx = self._gw.loop_time()
        events = self._protocol.receive_data(data)
        if events:
            self._guarded(events)
        if len(data) >= FAIR_READ and self._transport is not None and not self.closed:
            # The event loop reads a busy socket up to 32 times in a row; a line sending
            # flat out would hold every other line up for as long. One big read per line
            # and loop iteration keeps the others' latency (docs/reliability.md, "Abuse").
            self._transport.pause_reading()
            asyncio.get_running_loop().call_soon(self._resume_reading)

    def _resume_reading(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    def _guarded(self, events: list[Event]) -> None:
        try:
            self._events(events)
        except Exception:
            # A fault in the switch must not take the process down with it; the input is
            # journaled and will be answered on recovery.
            self._gw.log.exception("session.error", line=self.line, peer=self.peer)
            self.close("internal error")

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the line."""
        self.closed = True
        self._protocol.close()
        self._gw.sessions.discard(self)
        if self.line is not None:
            self._gw.delivery.detach(self.line, self)
        self._gw.log.info("session.closed", line=self.line, peer=self.peer)

    # events

    def _events(self, events: list[Event]) -> None:
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
                self._begin_signon(event)
            elif isinstance(event, Violation):
                self._reject(event.reason)
        line = self.line
        if line is None:
            return
        if ack is not None:
            self._gw.journal.acknowledge(line, ack)
            self._gw.schedule_flush()
        if batch:
            self._gw.delivery.deliver(self._gw.switch.handle(line, batch))

    # sign-on

    def _begin_signon(self, signon: SignOnRequest) -> None:
        line = self._gw.lines.get(signon.line)
        # Unknown line codes are counted by address only, so they cannot fill the table.
        line_keys = [f"line:{line.code}"] if line is not None else []
        keys = [f"peer:{self.peer_host}", *line_keys]
        locked = self._gw.throttle.locked(keys)
        if locked is not None:
            self._gw.log.warning("security.signon_rejected", line=signon.line, peer=self.peer,
                                 reason="locked out", locked=locked)
            return self._reject("TOO MANY ATTEMPTS")
        self._gw.throttle.begin(line_keys)
        if line is None:
            return self._refuse(keys, signon.line, "unknown line", "UNKNOWN LINE")
        if self.cert_line is not None and self.cert_line != line.code:
            return self._refuse(keys, signon.line, f"certificate for line {self.cert_line}",
                                "CERTIFICATE NOT FOR THIS LINE")
        cache_key = hashlib.sha256(f"{line.code}\0{signon.key}\0{line.key_hash}".encode()).digest()
        if cache_key in self._gw.verified_keys:
            return self._finish_signon(signon.line, True, keys)
        # Frames that arrive meanwhile wait in the protocol until the answer is sent.
        future = asyncio.get_running_loop().run_in_executor(
            None, verify_key, signon.key, line.key_hash
        )

        def done(fut: "asyncio.Future[bool]") -> None:
            ok = not fut.cancelled() and fut.exception() is None and fut.result()
            if ok:
                self._gw.verified_keys.add(cache_key)
            self._finish_signon(signon.line, bool(ok), keys)

        future.add_done_callback(done)

    def _finish_signon(self, code: str, ok: bool, keys: list[str]) -> None:
        # The attempt is settled even when the peer has gone, or the lockout would miss it.
        if not ok:
            return self._refuse(keys, code, "invalid key", "INVALID KEY")
        self._gw.throttle.succeeded(keys)
        if self.closed:
            return
        home = self._gw.bus.home_of(code)
        if home != self._gw.bus.instance:
            # The line's numbers live in its home's journal (docs/scale-out.md).
            self._gw.log.warning("session.wrong_instance", line=code, peer=self.peer, home=home)
            return self._reject(f"LINE HOMED ON {home}")
        last_ack = self._gw.journal.last_ack(code)
        self._send(SignOnAccepted(code, last_ack))
        self._gw.log.info("session.signon", line=code, peer=self.peer, last_ack=last_ack)
        self._gw.delivery.attach(code, self)
        # The stored backlog is paged in by the pump as the line takes it.
        self._pump()
        held = self._protocol.held_events()
        if held:
            self._guarded(held)

    def _refuse(self, keys: list[str], code: str, reason: str, answer: str) -> None:
        """Log and count a failed sign-on (locking its keys at the limit), then reject it."""
        self._gw.log.warning("security.signon_rejected", line=code, peer=self.peer, reason=reason)
        # keys[1:] is the line key whose attempt under way this settles.
        for key in self._gw.throttle.failed(keys, pending=keys[1:]):
            self._gw.log.warning("security.signon_locked", line=code, peer=self.peer, locked=key,
                                 lockout_s=self._gw.settings.signon_lockout)
        self._reject(answer)

    def _reject(self, reason: str) -> None:
        self._send(SignOnRefused(reason))
        self.close(f"signon rejected: {reason.lower()}")

    # output

    def _send(self, event: Event) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(self._protocol.send(event))

    def send_outputs(self, outputs: list[StoredOutput], live: bool = True) -> None:
        """Queue outputs and write what the line takes; cut off a line that stops reading.

        Only ``live`` outputs count towards the cut-off: the stored backlog is paged in as
        the line reads, however large it is.
        """
        if self._transport is None or self.closed:
            return
        # Cut off: new outputs waiting past the limit on top of a full buffer. They stay
        # stored and are sent again after the next sign-on.
        for output in outputs:
            frame = self._protocol.send(Output(output.text))
            self._queue.append((frame, live))
            if live:
                self._live_waiting += len(frame)
        self._pump()
        if self._live_waiting > self._gw.settings.write_buffer_limit:
            self._gw.log.warning("session.slow_reader", line=self.line, peer=self.peer)
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
            limit = self._gw.settings.write_buffer_limit
            while transport is not None and not self.closed:
                if transport.get_write_buffer_size() > limit:
                    break
                if not self._queue:
                    if self.line is None or not self._gw.delivery.backlog_page(self.line):
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
        self._gw.log.info("session.closing", line=self.line, peer=self.peer, reason=reason)
        if self.line is not None:
            self._gw.delivery.detach(self.line, self)
        if abort:
            self._transport.abort()
        else:
            self._transport.close()

