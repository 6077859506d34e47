"""Delivery: live sessions by line; outputs for a line that is not signed on wait in the journal."""

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.journal import AuditRecord, Journal, NumberedOutput, delivery_records
from gateway.logs import info_each
from gateway.metrics import NO_HOOKS, Hooks


class LineLink(Protocol):
    """A signed-on line that can take outputs."""

    def send_outputs(self, outputs: Sequence[NumberedOutput], live: bool = True) -> None:
        """Write output frames, in order; ``live`` is False for the stored backlog."""
        ...

    def close(self, reason: str) -> None:
        """End the session."""
        ...


class RemoteLines(Protocol):
    """Lines reached beyond this process's sessions: the MQTT bus (gateway/bus/lines.py)."""

    def link(self, line: str) -> LineLink | None:
        """The link for a line no session here holds (an MQTT line homed here), or None."""
        ...

    def signed_on(self, line: str, signed_on: bool) -> None:
        """A session here took the line (True) or let it go."""
        ...

    def in_service(self, line: str) -> bool:
        """True when the line takes outputs beyond this process (over MQTT, another home)."""
        ...


class NoRemoteLines:
    """The in-process bus: every line is reached through a session here or not at all."""

    def link(self, line: str) -> LineLink | None:
        """None."""
        return None

    def signed_on(self, line: str, signed_on: bool) -> None:
        """Nobody to tell."""

    def in_service(self, line: str) -> bool:
        """Never."""
        return False


class FlushSoon:
    """Makes acknowledgements and delivery records durable at the end of this loop iteration,
    once however often it is asked in the iteration."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        # The flush asked for and not run yet.
        self._handle: asyncio.Handle | None = None

    def __call__(self) -> None:
        """Ask for a flush (on the event loop)."""
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self._run)

    def carried(self) -> None:
        """A journal transaction queued after the asked-for flush, in the same pass of the
        loop, writes what the flush would (every transaction commits the waiting
        acknowledgements and delivery records): the flush is dropped, and the iteration
        costs a commit less. Whoever says so commits in that pass, or flushes itself."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        self._handle = None
        self._flush()


class Delivery:
    """Hands stored outputs to the session that holds their line."""

    def __init__(
        self,
        journal: Journal,
        clock: Clock,
        log: Any,
        flush_soon: Callable[[], None],
        backlog_page: int = 500,
        hooks: Hooks = NO_HOOKS,
        remote: RemoteLines | None = None,
    ) -> None:
        self._journal = journal
        self._backlog_page = backlog_page
        # Lines catching up after sign-on: the last sequence number handed over from the store.
        self._backlog: dict[str, int] = {}
        self._clock = clock
        self._log = log
        # Called after delivery audit records were noted, to have them committed soon.
        self._flush_soon = flush_soon
        self._links: dict[str, LineLink] = {}
        self._hooks = hooks
        # The base's hooks do nothing: per output, not even called.
        self._hooked = hooks is not NO_HOOKS
        self._remote = remote or NoRemoteLines()

    def in_service(self, line: str) -> bool:
        """Whether the line takes outputs now: a session here, over MQTT or on another home."""
        return line in self._links or self._remote.in_service(line)

    def attach(self, line: str, link: LineLink) -> None:
        """Make ``link`` the line's session (replacing any older one) and resend what is unacked."""
        old = self._links.pop(line, None)
        if old is not None and old is not link:
            old.close("replaced")
        self._links[line] = link
        self._remote.signed_on(line, True)
        self._backlog[line] = self._journal.last_ack(line)

    def backlog_page(self, line: str) -> bool:
        """Hand the line's session the next page of what is stored for it; False when done.

        The session asks whenever it has written everything and the line has room, so a
        long backlog is read from the journal as the line takes it, not all at once.
        """
        after = self._backlog.get(line)
        if after is None:
            return False
        page = self._journal.outputs_after(line, after, self._backlog_page)
        if not page:
            del self._backlog[line]
            return False
        self._backlog[line] = page[-1].seq
        self._send(page, "signon")
        return True

    def detach(self, line: str, link: LineLink) -> None:
        """Forget the session if it still holds the line."""
        if self._links.get(line) is link:
            del self._links[line]
            self._backlog.pop(line, None)
            self._remote.signed_on(line, False)

    def deliver(self, outputs: Iterable[NumberedOutput]) -> None:
        """Send each output to its line's session, or leave it stored for the next sign-on."""
        self._send(outputs, "live")

    def _send(self, outputs: Iterable[NumberedOutput], outcome: str) -> None:
        by_line: dict[str, list[NumberedOutput]] = {}
        for output in outputs:
            by_line.setdefault(output.line, []).append(output)
        now: datetime | None = None
        audit: list[AuditRecord] = []
        delivered: list[dict[str, Any]] = []
        for line, batch in by_line.items():
            if outcome == "live" and line in self._backlog:
                # Stored already; the backlog pages reach it in order.
                continue
            link = self._links.get(line) or self._remote.link(line)
            if link is None:
                for output in batch:
                    self._log.info(
                        "message.stored",
                        line=line,
                        dest=output.dest,
                        mke=output.mke,
                        out_seq=output.seq,
                    )
                continue
            link.send_outputs(batch, outcome == "live")
            now = now or self._clock.now()
            audit.extend(delivery_records(now, line, batch, outcome))
            # The outputs of a batch share their input's arrival (one object): the latency
            # is worked out once for each.
            arrived: datetime | None = None
            latency = None
            for output in batch:
                if output.in_time is not arrived:
                    arrived = output.in_time
                    latency = (None if arrived is None
                               else round((now - arrived).total_seconds() * 1000, 3))
                delivered.append({"line": line, "dest": output.dest, "mke": output.mke,
                                  "out_seq": output.seq, "latency_ms": latency})
                if self._hooked:
                    self._hooks.delivered(line, output.mke, latency)
        if delivered:
            # Handed to their sessions in this one call: the lines share a stamp, as the
            # delivery records share `now`.
            info_each(self._log, "message.delivered", delivered)
        if audit:
            self._journal.note_delivered(audit)
            self._flush_soon()
