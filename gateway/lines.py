"""The line desk: what a TCP session asks of the gateway, and the sessions it watches.

A session (gateway/session.py) moves bytes; the desk decides its sign-on (the key, with the
cache of verified keys and the lockout of repeated failures, the line's home, the last
acknowledged number), passes its inputs to the switch and their outputs to delivery, applies
its acknowledgements, and closes sessions that time out.
"""

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from formats.line_protocol import SignOnAccepted, SignOnRefused, SignOnRequest
from gateway.bus import Homes
from gateway.clock import Clock
from gateway.config import Settings
from gateway.delivery import Delivery, FlushSoon
from gateway.journal import Journal
from gateway.session import LineSession, Peer, SessionSettings, SignOnAnswer
from gateway.switch import Switch
from gateway.throttle import SignonThrottle
from routing.lines import LineRegistry, verify_key


class LineDesk:
    """The :class:`gateway.session.SessionHost` of every TCP session, and their timers."""

    def __init__(
        self,
        settings: Settings,
        *,
        lines: LineRegistry,
        homes: Homes,
        journal: Journal,
        switch: Switch,
        delivery: Delivery,
        flush_soon: FlushSoon,
        clock: Clock,
        log: Any,
    ) -> None:
        self.settings = SessionSettings(settings.max_frame, settings.write_buffer_limit)
        self.log = log
        self._signon_timeout = settings.signon_timeout
        self._idle_timeout = settings.idle_timeout
        self._heartbeat_interval = settings.heartbeat_interval
        self._lockout = settings.signon_lockout
        self._lines = lines
        self._homes = homes
        self._journal = journal
        self._switch = switch
        self._delivery = delivery
        self._flush_soon = flush_soon
        self._throttle = SignonThrottle(
            # On the gateway's clock, so a test moves a ManualClock past a lockout.
            settings.signon_max_failures, settings.signon_lockout,
            lambda: clock.now().timestamp(),
        )
        # Digests of (line, key, stored hash) found valid: a reconnect skips the slow check.
        self._verified: set[bytes] = set()
        self.sessions: set[LineSession] = set()
        # Inputs read in this loop iteration, by line, and whether answer_waiting is due.
        self._waiting: list[tuple[str, list[tuple[str, str | None]]]] = []
        self._scheduled = False

    # what a session asks

    def loop_time(self) -> float:
        """Monotonic time for session timers."""
        return asyncio.get_running_loop().time()

    def opened(self, session: LineSession) -> None:
        """Watch the session's timers."""
        self.sessions.add(session)

    def gone(self, session: LineSession) -> None:
        """Forget the session."""
        self.sessions.discard(session)

    def sign_on(
        self, request: SignOnRequest, peer: Peer, answer: Callable[[SignOnAnswer], None]
    ) -> None:
        """Decide a sign-on and call ``answer`` with it, now or once the key is verified."""
        line = self._lines.get(request.line)
        # Unknown line codes are counted by address only, so they cannot fill the table.
        line_keys = [f"line:{line.code}"] if line is not None else []
        keys = [f"peer:{peer.host}", *line_keys]
        locked = self._throttle.locked(keys)
        if locked is not None:
            self.log.warning("security.signon_rejected", line=request.line, peer=peer.address,
                             reason="locked out", locked=locked)
            return answer(SignOnRefused("TOO MANY ATTEMPTS"))
        self._throttle.begin(line_keys)
        if line is None:
            return answer(self._refuse(keys, request.line, peer, "unknown line", "UNKNOWN LINE"))
        if peer.cert_line is not None and peer.cert_line != line.code:
            return answer(self._refuse(keys, request.line, peer,
                                       f"certificate for line {peer.cert_line}",
                                       "CERTIFICATE NOT FOR THIS LINE"))
        digest = hashlib.sha256(f"{line.code}\0{request.key}\0{line.key_hash}".encode()).digest()
        if digest in self._verified:
            return answer(self._decide(request.line, peer, True, keys))
        future = asyncio.get_running_loop().run_in_executor(
            None, verify_key, request.key, line.key_hash
        )

        def done(fut: "asyncio.Future[bool]") -> None:
            ok = not fut.cancelled() and fut.exception() is None and fut.result()
            if ok:
                self._verified.add(digest)
            answer(self._decide(request.line, peer, bool(ok), keys))

        future.add_done_callback(done)

    def _decide(self, code: str, peer: Peer, key_ok: bool, keys: list[str]) -> SignOnAnswer:
        """The answer once the key is checked; the attempt is settled in the throttle even
        when the peer has gone, or the lockout would miss it."""
        if not key_ok:
            return self._refuse(keys, code, peer, "invalid key", "INVALID KEY")
        self._throttle.succeeded(keys)
        home = self._homes.home_of(code)
        if home != self._homes.instance:
            # The line's numbers live in its home's journal (docs/scale-out.md).
            self.log.warning("session.wrong_instance", line=code, peer=peer.address, home=home)
            return SignOnRefused(f"LINE HOMED ON {home}")
        return SignOnAccepted(code, self._journal.last_ack(code))

    def _refuse(
        self, keys: list[str], code: str, peer: Peer, reason: str, answer: str
    ) -> SignOnRefused:
        """Log and count a failed sign-on (locking its keys at the limit)."""
        self.log.warning("security.signon_rejected", line=code, peer=peer.address, reason=reason)
        # keys[1:] is the line key whose attempt under way this settles.
        for key in self._throttle.failed(keys, pending=keys[1:]):
            self.log.warning("security.signon_locked", line=code, peer=peer.address, locked=key,
                             lockout_s=self._lockout)
        return SignOnRefused(answer)

    def attach(self, line: str, session: LineSession) -> None:
        """Delivery's outputs for the line go to the session now."""
        self._delivery.attach(line, session)

    def detach(self, line: str, session: LineSession) -> None:
        """Delivery forgets the session if it still holds the line."""
        self._delivery.detach(line, session)

    def backlog_page(self, line: str) -> bool:
        """The next page of the line's stored backlog to its session; False when done."""
        return self._delivery.backlog_page(line)

    def inputs(self, line: str, frames: list[tuple[str, str | None]]) -> None:
        """Take the line's inputs: what every line sent in this loop iteration is journaled,
        answered and delivered together at its end (:meth:`answer_waiting`)."""
        self._waiting.append((line, frames))
        self._answer_soon()

    def acknowledge(self, line: str, seq: int) -> None:
        """Apply the acknowledgement; it is made durable at the end of this loop iteration,
        with the iteration's inputs when there are any."""
        self._journal.acknowledge(line, seq)
        self._answer_soon()

    def answer(self, batch: list[tuple[str, list[tuple[str, str | None]]]]) -> None:
        """Journal and answer the inputs of one or more lines now, then deliver what they
        caused (the MQTT bus's batch, and the loop iteration's)."""
        self._switch.handle_lines(batch, self._delivery.deliver)

    def answer_waiting(self) -> None:
        """Answer the inputs the loop iteration brought; the batch's first transaction writes
        the acknowledgements and delivery records waiting, or, without inputs, a flush now
        (the flush asked for before was left to this pass: :meth:`FlushSoon.carried`).

        Only the journal can fail a whole batch (each input's faults are its own): the
        sessions of its lines are closed, and what was journaled is answered on recovery.
        """
        self._scheduled = False
        batch, self._waiting = self._waiting, []
        if not batch:
            # Acknowledgements alone: written now, in the pass whose flush they took over.
            self._journal.flush()
            return
        try:
            # Its first transaction writes the acknowledgements and delivery records waiting.
            self.answer(batch)
        except Exception:
            lines = {line for line, _ in batch}
            for session in list(self.sessions):
                if session.line in lines:
                    self.log.exception("session.error", line=session.line,
                                       peer=session.peer.address)
                    session.close("internal error")
        self._flush_soon()

    def _answer_soon(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.answer_waiting)
            # A flush asked for earlier runs before answer_waiting, in the same pass.
            self._flush_soon.carried()

    # the timers

    def sweep_period(self) -> float:
        """Seconds between sweeps: a quarter of the shortest timer, at most one."""
        return min(1.0, self._signon_timeout / 4, self._idle_timeout / 4,
                   self._heartbeat_interval / 4)

    def sweep(self, now: float) -> None:
        """Close sessions with no sign-on in time or idle too long; probe quiet lines."""
        for session in list(self.sessions):
            if session.line is None:
                if now - session.opened_at > self._signon_timeout:
                    session.close("no signon in time")
            elif now - session.last_rx > self._idle_timeout:
                session.close("idle")
            elif (now - session.last_rx > self._heartbeat_interval
                  and not session.hb_outstanding):
                session.send_heartbeat()
