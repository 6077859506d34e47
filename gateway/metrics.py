"""Prometheus metrics (``serve --metrics-port``): counters fed by hooks, state read at scrape.

The switch and delivery call the ``Hooks`` methods; without ``--metrics-port`` they are
no-ops. Queue depths, stored messages and open hit confirmations are read from the running
gateway when Prometheus scrapes, so nothing on the message path keeps them up to date.
"""

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from responders.lesc_desk import ANSWERED, ENHANCED, HIT, OPEN

if TYPE_CHECKING:
    from gateway.app import Gateway

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


class _State(Collector):
    """Gauges read from the gateway at scrape time."""

    def __init__(self, gateway: "Gateway") -> None:
        self._gw = gateway

    def collect(self) -> Iterator[Metric]:
        gateway = self._gw
        journal = gateway.journal
        stored = GaugeMetricFamily(
            "iaqgw_stored_messages", "Outputs stored for a line and not yet acknowledged",
            labels=["line"],
        )
        for code in gateway.lines.codes:
            stored.add_metric([code], journal.last_out(code) - journal.last_ack(code))
        yield stored
        queued = GaugeMetricFamily(
            "iaqgw_write_queue_bytes", "Bytes written to a signed-on line not yet sent",
            labels=["line"],
        )
        signed_on = 0
        # A copy: the event loop thread may add or drop sessions while this runs.
        for session in list(gateway.sessions):
            if session.line is not None and not session.closed:
                signed_on += 1
                queued.add_metric([session.line], session.write_buffer_size())
        yield queued
        yield GaugeMetricFamily("iaqgw_signed_on_lines", "Lines signed on now", value=signed_on)
        counts = self._open_cases()
        yield GaugeMetricFamily(
            "iaqgw_open_hit_confirmations",
            "Hit confirmations waiting for the technician's final YR", value=counts.get(HIT, 0),
        )
        yield GaugeMetricFamily(
            "iaqgw_technician_queue",
            "Cases in the technician queue (hit confirmations and enhanced responses)",
            value=counts.get(HIT, 0) + counts.get(ENHANCED, 0),
        )

    def _open_cases(self) -> dict[str, int]:
        """Open LESC cases by kind, read on a connection of this scrape's own (this thread)."""
        path = self._gw.settings.journal_path.resolve()
        db = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=1.0)
        try:
            rows = db.execute(
                "SELECT kind, COUNT(*) FROM lesc_cases WHERE state IN (?, ?) GROUP BY kind",
                (OPEN, ANSWERED),
            ).fetchall()
        finally:
            db.close()
        return {str(kind): int(count) for kind, count in rows}


class GatewayMetrics(Hooks):
    """The gateway's Prometheus registry and the hooks that feed it."""

    __slots__ = (
        "_children", "_errors", "_failed", "_in", "_latency", "_out", "_server", "registry",
    )

    def __init__(self, gateway: "Gateway") -> None:
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
        self.registry.register(_State(gateway))
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

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` over HTTP on a thread; returns the port (useful with 0)."""
        self._server, _ = start_http_server(port, host, self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop the HTTP server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
