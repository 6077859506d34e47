"""JSON log lines written once per event-loop iteration (issue 13), same lines and keys."""

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from paths import RECORDS

from gateway.logs import (
    BufferedLines,
    HeldLines,
    UtcStamp,
    configure_logging,
    get_logger,
    info_each,
)


class Writes(io.BytesIO):
    """A binary stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        """Count, then keep the bytes."""
        self.writes += 1
        return super().write(data)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the tests' JSON logging back after a test configures its own."""
    yield
    configure_logging("json", os.environ.get("IAQGW_TEST_LOG_LEVEL", "WARNING"))



def test_lines_from_other_threads_during_the_loops_lines_are_all_written() -> None:
    # The metrics server's thread and paho's write at once while the loop's lines wait.
    stream = Writes()
    lines = BufferedLines(stream)
    per_thread, threads = 2000, 4

    def write(name: int) -> None:
        for n in range(per_thread):
            lines.info(b"t%d-%d" % (name, n))

    async def run() -> None:
        workers = [threading.Thread(target=write, args=(name,)) for name in range(threads)]
        for worker in workers:
            worker.start()
        for n in range(per_thread):
            lines.info(b"loop-%d" % n)
            if n % 50 == 0:
                await asyncio.sleep(0)
        for worker in workers:
            worker.join()
        await asyncio.sleep(0)

    # Threads switch as often as the interpreter allows, so a line added mid-flush shows.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        asyncio.run(run())
    finally:
        sys.setswitchinterval(interval)
    written = stream.getvalue().splitlines()
    assert len(written) == len(set(written)) == (threads + 1) * per_thread


def test_lines_of_one_iteration_are_one_write_at_the_next() -> None:
    stream = Writes()
    lines = BufferedLines(stream)

    async def run() -> tuple[bytes, bytes, int]:
        for n in range(3):
            lines.info(b'{"n":%d}' % n)
        during = stream.getvalue()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return during, stream.getvalue(), stream.writes

    during, after, writes = asyncio.run(run())
    assert during == b""
    assert after == b'{"n":0}\n{"n":1}\n{"n":2}\n'
    assert writes == 1


def test_without_a_loop_and_at_error_a_line_is_written_at_once() -> None:
    stream = Writes()
    lines = BufferedLines(stream)
    lines.info(b"a")
    assert stream.getvalue() == b"a\n"

    async def run() -> bytes:
        lines.info(b"b")
        lines.error(b"c")
        return stream.getvalue()

    # The ERROR line takes the INFO line waiting before it along, in order.
    assert asyncio.run(run()) == b"a\nb\nc\n"


def test_waiting_lines_hold_their_length_not_what_orjson_allocated() -> None:
    # orjson's bytes hold at least 4 KiB whatever their length; kept until the flush, a
    # batch's lines fragmented the C heap and the gateway's memory crept under load.
    lines = BufferedLines(Writes())
    rendered = 2000

    async def run() -> int:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(rendered):
            lines.info(orjson.dumps({"event": "message.delivered", "line": "CA", "out_seq": n}))
        held = tracemalloc.get_traced_memory()[0] - before
        await asyncio.sleep(0)
        return held

    tracemalloc.start()
    try:
        held = asyncio.run(run())
    finally:
        tracemalloc.stop()
    # 2,000 lines of about 60 bytes: copied, they take no new memory; kept, about 8 MiB.
    assert held < 64 * 1024, held


def test_a_full_buffer_is_written_before_the_line_that_does_not_fit() -> None:
    stream = Writes()
    lines = BufferedLines(stream, capacity=64)
    logged = [b"%02d" % n * 10 for n in range(10)] + [b"L" * 100, b"after"]

    async def run() -> bytes:
        for line in logged:
            lines.info(line)
        during = stream.getvalue()
        await asyncio.sleep(0)
        return during

    during = asyncio.run(run())
    # What waits never exceeds the buffer, a longer line is written whole, nothing reordered.
    assert len(b"".join(logged)) + len(logged) - len(during) <= 64
    assert stream.getvalue() == b"".join(line + b"\n" for line in logged)
    assert stream.writes == 6


def test_a_loop_closed_before_its_flush_leaves_no_line_behind() -> None:
    stream = Writes()
    lines = BufferedLines(stream)

    async def run() -> None:
        lines.info(b"last in the loop")

    asyncio.run(run())
    lines.info(b"after the loop")
    assert stream.getvalue() == b"last in the loop\nafter the loop\n"


def test_stamp_as_structlog_writes_it() -> None:
    stamp = UtcStamp()
    for _ in range(3):
        ts = stamp(None, "info", {})["ts"]
        assert ts.endswith("Z") and ts[10] == "T" and len(ts) in (20, 27), ts


def test_json_lines_keep_their_keys(restore_logging: None) -> None:
    out = io.TextIOWrapper(Writes(), write_through=True)
    configure_logging("json", "INFO", out)

    async def run() -> None:
        get_logger().info("message.accepted", line="CA", in_seq=1)
        await asyncio.sleep(0)

    asyncio.run(run())
    stream = out.buffer
    assert isinstance(stream, Writes)
    line = orjson.loads(stream.getvalue())
    assert line["event"] == "message.accepted" and line["level"] == "info"
    assert line["line"] == "CA" and line["in_seq"] == 1 and line["ts"].endswith("Z")


def test_sigterm_loses_no_line(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--port", "0",
             "--data-dir", str(tmp_path / "data"), "--records", str(RECORDS)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(3000):
            if b"gateway.started" in log.read_bytes() or proc.poll() is not None:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [orjson.loads(line)["event"] for line in log.read_bytes().splitlines()]
    assert "gateway.started" in events
    assert events[-1] == "gateway.stopped", events[-3:]


class Odd:
    """A value JSON has no form for."""

    def __repr__(self) -> str:
        return "<odd>"


def rendered_both(emit: Callable[[Any], None]) -> tuple[list[Any], list[Any]]:
    """The lines ``emit`` logs through structlog's processor chain merge_contextvars,
    add_log_level, TimeStamper, format_exc_info and JSONRenderer, and through ours, parsed,
    without ``ts`` after checking the key order."""
    chain = io.StringIO()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=lambda *a, **k: orjson.dumps(
                        *a, **k).decode())],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(chain),
        cache_logger_on_first_use=False,
    )
    emit(structlog.get_logger())
    ours = io.TextIOWrapper(Writes(), write_through=True)
    configure_logging("json", "INFO", ours)
    emit(get_logger())
    stream = ours.buffer
    assert isinstance(stream, Writes)
    expected = [orjson.loads(line) for line in chain.getvalue().splitlines()]
    got = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [list(line) for line in got] == [list(line) for line in expected]
    for line in expected + got:
        line.pop("ts")
    return expected, got


def test_lines_are_what_structlogs_chain_renders(restore_logging: None) -> None:
    """The inline rendering gives the keys, values and key order of the processor chain
    (all but ``ts``'s value)."""

    def emit(log: Any) -> None:
        bound = log.bind(bound="x")
        bound.info("message.accepted", line="CA", in_seq=7, odd=Odd(), none=None)
        bound.warn("w")
        bound.error("e %s", "arg")
        bound.debug("hidden")
        try:
            raise ZeroDivisionError
        except ZeroDivisionError:
            bound.exception("boom", k=2)
        bound.critical("c")
        bound.log(logging.INFO, "l")

    expected, got = rendered_both(emit)
    assert got == expected
    assert len(got) == 6 and got[0]["odd"] == "<odd>"
    # log.exception: the traceback as text, not ``exc_info: true``.
    boom = got[3]
    assert "exc_info" not in boom and "ZeroDivisionError" in boom["exception"]


def test_info_lines_are_what_structlogs_chain_renders(restore_logging: None) -> None:
    """INFO has a path of its own (one call per line): interpolation by position and by name,
    context variables, keys that shadow bound ones, as the chain renders them."""

    def emit(log: Any) -> None:
        structlog.contextvars.bind_contextvars(request="r1", line="context")
        try:
            bound = log.bind(line="bound", seq=1)
            bound.info("by position %s %d", "a", 3, line="given")
            bound.info("by name %(k)s", {"k": "v"})
            bound.info("empty mapping %s", {})
            log.info("unbound", seq=2)
        finally:
            structlog.contextvars.clear_contextvars()

    expected, got = rendered_both(emit)
    assert got == expected
    assert [line["event"] for line in got] == [
        "by position a 3", "by name v", "empty mapping {}", "unbound"
    ]
    assert got[0]["line"] == "given" and got[0]["request"] == "r1"


def test_lines_of_one_moment_are_what_structlogs_chain_renders(restore_logging: None) -> None:
    """``info_each`` gives each row the line ``info`` would (keys, values, order; context
    variables and bound keys, a row's keys over bound ones), one ``ts`` for all of them."""
    rows: list[dict[str, Any]] = [{"line": "CA", "out_seq": 1, "latency_ms": 0.5},
                                  {"line": "TX", "out_seq": 2}, {"odd": Odd(), "none": None}]

    def emit(log: Any) -> None:
        structlog.contextvars.bind_contextvars(request="r1", out_seq=0)
        try:
            bound = log.bind(line="bound")
            # The chain's logger has no info_each: the function logs row by row for it.
            info_each(bound, "message.delivered", [dict(row) for row in rows])
            info_each(bound, "nothing", [])
        finally:
            structlog.contextvars.clear_contextvars()

    ours = io.TextIOWrapper(Writes(), write_through=True)
    configure_logging("json", "INFO", ours)
    stream = ours.buffer
    assert isinstance(stream, Writes)

    async def run() -> None:
        emit(get_logger())
        await asyncio.sleep(0)

    asyncio.run(run())
    stamps = {orjson.loads(line)["ts"] for line in stream.getvalue().splitlines()}
    expected, got = rendered_both(emit)
    assert got == expected
    assert [line["line"] for line in got] == ["CA", "TX", "bound"]
    assert got[1]["out_seq"] == 2 and got[1]["request"] == "r1" and got[2]["odd"] == "<odd>"
    assert len(stamps) == 1 and stream.writes == 1


def test_held_lines_are_what_structlogs_chain_renders_stamped_when_held(
    restore_logging: None,
) -> None:
    """HeldLines gives each held line the line ``info`` would (keys, values, order; context
    variables and bound keys), in the order held, stamped when held, in one write."""

    def emit(log: Any) -> None:
        structlog.contextvars.bind_contextvars(request="r1")
        try:
            held = HeldLines(log.bind(line="bound"))
            held.info("message.accepted", line="CA", in_seq=1, odd=Odd())
            held.info("message.rejected", in_seq=2, none=None)
            held.write()
            held.write()
        finally:
            structlog.contextvars.clear_contextvars()

    expected, got = rendered_both(emit)
    assert got == expected
    assert [(line["event"], line["line"]) for line in got] == [
        ("message.accepted", "CA"), ("message.rejected", "bound"),
    ]
    assert got[0]["request"] == "r1" and got[0]["odd"] == "<odd>" and got[1]["none"] is None

    out = io.TextIOWrapper(Writes(), write_through=True)
    configure_logging("json", "INFO", out)
    held = HeldLines(get_logger())
    held.info("first")
    time.sleep(0.01)
    held.info("second")
    time.sleep(0.01)
    before_write = UtcStamp().now()
    held.write()
    stream = out.buffer
    assert isinstance(stream, Writes)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["first", "second"]
    # Each keeps the moment it was held, not the write's.
    moments = [datetime.fromisoformat(ts) for ts in (lines[0]["ts"], lines[1]["ts"], before_write)]
    assert moments[0] < moments[1] < moments[2]
    assert stream.writes == 1


def test_lines_of_one_moment_below_the_level_are_not_written(restore_logging: None) -> None:
    out = io.TextIOWrapper(Writes(), write_through=True)
    configure_logging("json", "WARNING", out)
    info_each(get_logger().bind(), "message.delivered", [{"line": "CA"}])
    get_logger().warning("shown")
    stream = out.buffer
    assert isinstance(stream, Writes)
    assert [orjson.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["shown"]
