"""Delivery: live sessions by line; outputs for a line that is not signed on wait in the journal."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.journal import Journal, StoredOutput


class LineLink(Protocol):
    """A signed-on line that can take outputs."""

    def send_output(self, output: StoredOutput) -> None:
        """Write one output frame."""
        ...

    def close(self, reason: str) -> None:
        """End the session."""
        ...


class Delivery:
    """Hands stored outputs to the session that holds their line."""

    def __init__(self, journal: Journal, clock: Clock, log: Any) -> None:
        self._journal = journal
        self._clock = clock
        self._log = log
        self._links: dict[str, LineLink] = {}

    def is_signed_on(self, line: str) -> bool:
        """Whether a session holds the line now."""
        return line in self._links

    def links(self) -> list[LineLink]:
        """Every live session."""
        return list(self._links.values())

    def attach(self, line: str, link: LineLink) -> None:
        """Make ``link`` the line's session (replacing any older one) and resend what is unacked."""
        old = self._links.pop(line, None)
        if old is not None and old is not link:
            old.close("replaced")
        self._links[line] = link
        self._send(self._journal.unacknowledged(line))

    def detach(self, line: str, link: LineLink) -> None:
        """Forget the session if it still holds the line."""
        if self._links.get(line) is link:
            del self._links[line]

    def deliver(self, outputs: Iterable[StoredOutput]) -> None:
        """Send each output to its line's session, or leave it stored for the next sign-on."""
        self._send(outputs)

    def _send(self, outputs: Iterable[StoredOutput]) -> None:
        now: datetime | None = None
        for output in outputs:
            link = self._links.get(output.line)
            if link is None:
                self._log.info(
                    "message.stored",
                    line=output.line,
                    dest=output.dest,
                    mke=output.mke,
                    out_seq=output.seq,
                )
                continue
            link.send_output(output)
            latency = None
            if output.in_time is not None:
                now = now or self._clock.now()
                latency = round((now - output.in_time).total_seconds() * 1000, 3)
            self._log.info(
                "message.delivered",
                line=output.line,
                dest=output.dest,
                mke=output.mke,
                out_seq=output.seq,
                latency_ms=latency,
            )
