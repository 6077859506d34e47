"""Prometheus metrics (``serve --metrics-port``): counters fed by hooks, state read at scrape.

The switch and delivery are given the ``Hooks`` they call; without ``--metrics-port`` those
are no-ops. Queue depths, stored messages and the services' gauges (the LESC's open hit
confirmations and technician queue) are read from the running gateway (:class:`StateReader`)
when Prometheus scrapes, so nothing on the message path keeps them up to date.

The scrape runs on the HTTP server's thread, and sessions, transports, the journal's counters
and the services' runtimes belong to the event loop: the scrape asks the loop for a snapshot
of them and shows the last one taken when the loop does not answer within SNAPSHOT_WAIT
seconds.
"""

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.journal import Journal
from responders.base import Gauge

# Seconds from the input entering the switch to the output being written to its line.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 60.0, 600.0, 3600.0)


class Hooks:
    """What the switch and delivery report as they work; this base ignores it."""

    __slots__ = ()

    def accepted(self, line: str, mke: str) -> None:
        """An input passed the header checks."""

    def rejected(self, line: str, code: str) -> None:
        """An ER went out for an input."""

    def failed(self, line: str, mke: str | None) -> None:
        """A pipeline step failed and aborted an exchange (or a whole input)."""

    def delivered(self, line: str, mke: str, latency_ms: float | None) -> None:
        """An output was written to its line."""


NO_HOOKS = Hooks()

# Seconds a scrape waits for the event loop's snapshot before it shows the last one.
SNAPSHOT_WAIT: Final = 1.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The gateway's state as the event loop last saw it: (line, value) pairs, and gauges."""

    stored: tuple[tuple[str, int], ...] = ()
    queued: tuple[tuple[str, int], ...] = ()
    gauges: tuple[Gauge, ...] = ()


class SessionView(Protocol):
    """What a snapshot reads of a session."""

    @property
    def line(self) -> str | None:
        """The line code once signed on."""
        ...

    @property
    def closed(self) -> bool:
        """True once the session ends."""
        ...

    def write_buffer_size(self) -> int:
        """Bytes written to the line that the network has not taken yet."""
        ...


class StateReader:
    """Reads the gateway's state into a :class:`Snapshot`; on the event loop thread only."""

    def __init__(
        self,
        journal: Journal,
        lines: Iterable[str],
        sessions: Collection[SessionView],
        gauges: Callable[[], Iterable[Gauge]],
    ) -> None:
        self._journal = journal
        self._lines = tuple(lines)
        self._sessions = sessions
        self._gauges = gauges

    def __call__(self) -> Snapshot:
        """The stored messages per line, the write queue per signed-on line, the gauges."""
        journal = self._journal
        return Snapshot(
            stored=tuple(
                (code, journal.last_out(code) - journal.last_ack(code)) for code in self._lines
            ),
            queued=tuple(
                (session.line, session.write_buffer_size())
                for session in self._sessions
                if session.line is not None and not session.closed
            ),
            gauges=tuple(self._gauges()),
        )


class _State(Collector):
    """Gauges of the gateway's state: a snapshot taken on the event loop."""

    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read
        self._snapshot = Snapshot()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take snapshots on this loop, which runs on the calling thread."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self.take()

    def take(self) -> Snapshot:
        """Read lines and sessions into a new snapshot; on the event loop thread only."""
        self._snapshot = self._read()
        return self._snapshot

    def snapshot(self) -> Snapshot:
        """A snapshot taken now on the event loop, else the last one (loop busy or gone)."""
        loop = self._loop
        if loop is None:
            return self._snapshot
        if threading.get_ident() == self._loop_thread:
            return self.take()
        future: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()

        def take() -> None:
            if future.set_running_or_notify_cancel():
                future.set_result(self.take())

        try:
            loop.call_soon_threadsafe(take)
        except RuntimeError:
            # The loop is closed: the gateway has stopped.
            return self._snapshot
        try:
            return future.result(timeout=SNAPSHOT_WAIT)
        except TimeoutError:
            future.cancel()
            return self._snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot()
        stored = GaugeMetricFamily(
            "iaqgw_stored_messages", "Outputs stored for a line and not yet acknowledged",
            labels=["line"],
        )
        for line, count in snapshot.stored:
            stored.add_metric([line], count)
        yield stored
        queued = GaugeMetricFamily(
            "iaqgw_write_queue_bytes", "Bytes written to a signed-on line not yet sent",
            labels=["line"],
        )
        for line, size in snapshot.queued:
            queued.add_metric([line], size)
        yield queued
        yield GaugeMetricFamily(
            "iaqgw_signed_on_lines", "Lines signed on now", value=len(snapshot.queued)
        )
        for gauge in snapshot.gauges:
            yield GaugeMetricFamily(gauge.name, gauge.help, value=gauge.value)


class GatewayMetrics(Hooks):
    """The gateway's Prometheus registry and the hooks that feed it."""

    __slots__ = (
        "_children", "_errors", "_failed", "_in", "_latency", "_out", "_server", "registry",
    )

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._in = Counter("iaqgw_messages_in", "Inputs accepted, by line and message key",
                           ["line", "mke"], registry=self.registry)
        self._out = Counter("iaqgw_messages_out", "Outputs delivered, by line and message key",
                            ["line", "mke"], registry=self.registry)
        self._errors = Counter("iaqgw_errors", "ER messages sent, by error number",
                               ["code"], registry=self.registry)
        self._failed = Counter(
            "iaqgw_failed_exchanges",
            "Exchanges aborted by a failing pipeline step (SM .04. sent), by line and key",
            ["line", "mke"], registry=self.registry,
        )
        self._latency = Histogram(
            "iaqgw_latency_seconds", "Input entering the switch to output delivered, by key",
            ["mke"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        # Label lookups take a lock each; the children are kept for the message path.
        self._children: dict[tuple[str, ...], Any] = {}
        self._server: Any = None

    def _child(self, metric: Any, kind: str, *labels: str) -> Any:
        key = (kind, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def accepted(self, line: str, mke: str) -> None:
        """Count an accepted input."""
        self._child(self._in, "in", line, mke).inc()

    def rejected(self, line: str, code: str) -> None:
        """Count an ER."""
        self._child(self._errors, "er", code).inc()

    def failed(self, line: str, mke: str | None) -> None:
        """Count an aborted exchange."""
        self._child(self._failed, "failed", line, mke or "").inc()

    def delivered(self, line: str, mke: str, latency_ms: float | None) -> None:
        """Count a delivered output and its latency."""
        self._child(self._out, "out", line, mke).inc()
        if latency_ms is not None:
            self._child(self._latency, "lat", mke).observe(latency_ms / 1000)

    def serve(self, host: str, port: int, read_state: Callable[[], Snapshot]) -> int:
        """Serve ``/metrics`` over HTTP on a thread, with the counters and the gauges
        ``read_state`` gives; returns the port (useful with 0).

        Called on the event loop, whose thread then takes every snapshot of the gateway.
        """
        state = _State(read_state)
        self.registry.register(state)
        state.attach(asyncio.get_running_loop())
        self._server, _ = start_http_server(port, host, self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop the HTTP server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
