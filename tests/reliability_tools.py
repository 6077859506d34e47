"""Helpers for the reliability, abuse and security tests: a lean line client for load,
process figures from /proc, and a figure recorder for docs/reliability.md."""

import asyncio
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from conftest import gateway_settings
from hdrh.histogram import HdrHistogram
from structlog.testing import CapturingLogger

from formats.control import HEARTBEAT, format_ack, format_signon, parse_signon_reply
from formats.framing import BadFrame, FrameDecoder, encode_frame
from formats.line_protocol import full_seq
from formats.output import OutputMessage, parse_output
from gateway.app import Gateway
from gateway.clock import Clock
from routing.lines import dev_key
from simulator.client import SignOnRejected


class EventLog:
    """A real structlog logger, at every level, that keeps each event dict for the test."""

    def __init__(self) -> None:
        self._sink = CapturingLogger()
        self.log = structlog.wrap_logger(
            self._sink,
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
            processors=[structlog.processors.add_log_level, structlog.processors.format_exc_info],
        )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Logged events in order, only those called ``name`` when given."""
        return [
            dict(call.kwargs)
            for call in self._sink.calls
            if name is None or call.kwargs.get("event") == name
        ]


@asynccontextmanager
async def logged_gateway(
    tmp_path: Path, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[tuple[Gateway, EventLog]]:
    """A gateway in this event loop whose log events the test can read."""
    events = EventLog()
    gateway = Gateway(gateway_settings(tmp_path, **overrides), clock=clock, log=events.log)
    await gateway.start()
    try:
        yield gateway, events
    finally:
        await gateway.stop()


@dataclass(slots=True)
class Output:
    """One output as a load line received it."""

    seq: int
    message: OutputMessage
    text: str
    at: float


@dataclass
class LoadLine:
    """A line for load and fault tests: pipelined sends, every output kept, cumulative ACKs.

    Unlike simulator.client.LineClient it never waits for one output at a time: a reader
    task keeps every output with its arrival time and acknowledges once per read.
    """

    line: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_ack: int
    ack: bool = True
    outputs: list[Output] = field(default_factory=list)
    heartbeats: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    acked: int = 0
    _last_seq: int = 0
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        port: int,
        line: str,
        key: str | None = None,
        *,
        ack: bool = True,
        host: str = "127.0.0.1",
        local_host: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> "LoadLine":
        """Connect (from ``local_host`` when given) and sign on; SignOnRejected on refusal."""
        local = (local_host, 0) if local_host else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls, local_addr=local), timeout
        )
        writer.write(encode_frame(format_signon(line, key or dev_key(line))))
        decoder = FrameDecoder()
        frames: list[str] = []
        while not frames:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                writer.close()
                raise ConnectionError("gateway closed the connection during sign-on")
            frames = [f.text for f in decoder.feed(data) if not isinstance(f, BadFrame)]
        accepted, detail, last_ack = parse_signon_reply(frames[0])
        if not accepted:
            writer.close()
            raise SignOnRejected(detail)
        client = cls(line, reader, writer, last_ack, ack)
        client._last_seq = client.acked = last_ack
        client._task = asyncio.create_task(client._read(decoder, frames[1:]))
        return client

    async def _read(self, decoder: FrameDecoder, first: list[str]) -> None:
        try:
            texts = first
            while True:
                now = time.monotonic()
                for text in texts:
                    if text == HEARTBEAT:
                        self.heartbeats += 1
                        self.writer.write(encode_frame(HEARTBEAT))
                        continue
                    message = parse_output(text)
                    self._last_seq = full_seq(self._last_seq, message.out_seq)
                    self.outputs.append(Output(self._last_seq, message, text, now))
                if self.outputs and self.ack and self._last_seq > self.acked:
                    self.acked = self._last_seq
                    self.writer.write(encode_frame(format_ack(self.acked)))
                if texts:
                    self.arrived.set()
                data = await self.reader.read(262144)
                if not data:
                    return
                texts = [f.text for f in decoder.feed(data) if not isinstance(f, BadFrame)]
        except (ConnectionError, OSError):
            return
        finally:
            self.closed.set()
            self.arrived.set()

    def send_nowait(self, texts: list[str]) -> None:
        """Queue framed texts without waiting for the socket."""
        self.writer.write(b"".join(encode_frame(text) for text in texts))

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (bad frames, trickles)."""
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, *texts: str) -> None:
        """Send framed texts and wait until the socket took them."""
        self.send_nowait(list(texts))
        await self.writer.drain()

    async def wait_outputs(self, count: int, timeout: float = 10.0) -> list[Output]:
        """Wait until ``count`` outputs have arrived in all; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.outputs) < count:
            if self.closed.is_set():
                raise ConnectionError(f"{self.line} closed after {len(self.outputs)} outputs")
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.line}: {len(self.outputs)} of {count} outputs")
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                continue
        return self.outputs

    async def wait_control(self, control: str, timeout: float = 10.0) -> Output:
        """Wait for the first output carrying ``control``."""
        deadline = time.monotonic() + timeout
        while True:
            for output in self.outputs:
                if output.message.control == control:
                    return output
            await self.wait_outputs(len(self.outputs) + 1, deadline - time.monotonic())

    async def quiet(self, seconds: float = 1.0) -> list[Output]:
        """Wait until nothing has arrived for ``seconds``; returns every output."""
        while not self.closed.is_set():
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), seconds)
            except TimeoutError:
                break
        return self.outputs

    async def close(self) -> None:
        """Close the connection and stop reading."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.writer.close()
        with suppress(ConnectionError, OSError, ssl.SSLError):
            await self.writer.wait_closed()


async def connect_storm(port: int, total: int, workers: int = 40) -> float:
    """Open and close ``total`` connections (every third sends half a sign-on); rate/s."""
    count = 0

    async def worker() -> None:
        nonlocal count
        while count < total:
            count += 1
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            if count % 3 == 0:
                writer.write(b"\x02SIGNON.CA.DE")
            writer.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return total / (time.monotonic() - start)


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    """How many file descriptors a process holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def latency_histogram() -> HdrHistogram:
    """Microsecond latencies from 1 µs to 100 s, three significant digits."""
    return HdrHistogram(1, 100_000_000, 3)


def p99_ms(histogram: HdrHistogram) -> float:
    """The 99th percentile of a microsecond histogram, in milliseconds."""
    return round(histogram.get_value_at_percentile(99) / 1000, 2)


def record_figure(name: str, **values: object) -> None:
    """Print a measured figure and append it to $IAQGW_FIGURES (JSON lines) when set."""
    entry = {"figure": name, **values}
    print(json.dumps(entry))
    target = os.environ.get("IAQGW_FIGURES")
    if target:
        with open(target, "a") as handle:
            handle.write(json.dumps(entry) + "\n")
