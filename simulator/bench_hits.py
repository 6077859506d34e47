"""``make bench``: 100,000 open hit confirmations tracked by one gateway (docs/lesc.md).

Sixteen lines send 100,000 urgent YQs, 2,000 a second, that only partly match their IVF
record (right name, DOB a day off), so every one opens a case for the technician queue. The
simulated technician is off, and the margin on the 10-minute rule is set to 570 s, so each
case's PENDING YR falls due 30 s after its YQ entered the switch instead of 8 minutes: the run
takes under two minutes, and for its last 20 seconds of intake the deadlines of the first YQs
come due while new YQs keep arriving, as they would at the LESC.

A PENDING YR promises the first whole minute after its 10-minute window (RTM is HHMM), so
every case whose PENDING went out in one minute falls due again at one moment, 30 s past the
next minute: thousands of renewed PENDINGs in one sweep, which would end the lines' reading
early (they count frames) and bunch the last first PENDINGs behind them. The intake starts
at a second of the minute where no renewal falls due before the run ends (``quiet_start``).

Figures: the gateway's peak RSS (and its RSS before the YQs), and how late each PENDING YR
went out after its due time, from the gateway's own ``hit.deadline`` log events (``late_ms``).
"""

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from formats.control import format_ack, format_signon
from formats.framing import encode_frame
from formats.message import format_fields, format_input
from routing.lines import dev_key

COUNT = 100_000
# 10 minutes minus 570 s: the PENDING YR falls due 30 s after the YQ.
MARGIN_URGENT = "570"
LINES = ("AL", "AZ", "CA", "CO", "FL", "GA", "IL", "MA", "MI", "NJ", "NY", "OH", "PA",
         "TX", "VA", "WA")
RATE = 2000  # YQs a second, all lines together
RECORDS = 2000
WAIT_S = 600
# The urgent window (10 minutes) less the margin: a PENDING falls due this long after its YQ,
# and a renewed one this long after the minute its promise was rounded up to.
DUE_AFTER_S = 600.0 - float(MARGIN_URGENT)
# Room between the last first PENDING and the first renewal.
QUIET_S = 5.0


@dataclass(frozen=True, slots=True)
class HitFigures:
    """What the run measured."""

    cases: int
    run_s: float  # from the first sign-on to the last PENDING YR
    idle_rss_mb: float
    peak_rss_mb: float
    actions: int
    late_p99_ms: float
    late_max_ms: float


def partial_yqs(index_path: Path, count: int) -> list[list[bytes]]:
    """Framed YQs per line: IVF records with the DOB a day off, each with its own OCA."""
    db = sqlite3.connect(f"{index_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT nic, last, first, dob, sex FROM record WHERE nic IS NOT NULL"
            " AND status NOT IN ('USC', 'LPR') LIMIT ?",
            (RECORDS,),
        ).fetchall()
    finally:
        db.close()
    per_line: list[list[bytes]] = [[] for _ in LINES]
    for n in range(count):
        nic, last, first, dob, sex = rows[n % len(rows)]
        born = date(int(dob[:4]), int(dob[4:6]), int(dob[6:])) - timedelta(days=1)
        fields = {
            "RTY": "WP", "RNO": "1", "PRI": "U", "OCA": f"B{n}", "NIC": nic,
            "NAM": f"{last}, {first}", "DOB": born.strftime("%Y%m%d"), "SEX": sex,
        }  # fmt: skip
        line = LINES[n % len(LINES)]
        text = format_input("YQ", f"{line}0000000", ["VTINS07S0"], format_fields(fields))
        per_line[n % len(LINES)].append(encode_frame(text))
    return per_line


async def _send(writer: asyncio.StreamWriter, frames: list[bytes], begin: float) -> None:
    """Send at this line's share of RATE, in 20 ms steps."""
    per_second = RATE / len(LINES)
    sent = 0
    while sent < len(frames):
        due = min(len(frames), int((time.perf_counter() - begin) * per_second) + 1)
        if due > sent:
            writer.write(b"".join(frames[sent:due]))
            sent = due
            await writer.drain()
        await asyncio.sleep(0.02)


async def _line(
    port: int, line: str, frames: list[bytes], started: asyncio.Event, begin: float
) -> int:
    """Send a line's YQs, reading until each has had its PENDING YR; return the count."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_frame(format_signon(line, dev_key(line))))
    reply = await reader.readuntil(b"\x03")
    if not reply.startswith(b"\x02SIGNON OK"):
        raise ConnectionError(f"{line}: {reply!r}")
    started.set()
    sending = asyncio.create_task(_send(writer, frames, max(begin, time.perf_counter())))
    received = 0
    while received < len(frames):
        data = await asyncio.wait_for(reader.read(1 << 16), WAIT_S)
        if not data:
            raise ConnectionError(f"{line}: gateway closed")
        frames_in = data.count(b"\x03")
        if frames_in:
            received += frames_in
            writer.write(encode_frame(format_ack(received)))
    await sending
    writer.close()
    return received


def quiet_start(now: float, intake_s: float) -> float:
    """The first wall-clock time from ``now`` to start an intake of ``intake_s`` seconds at
    so that no renewed PENDING falls due before its last first PENDING, plus QUIET_S.

    The first PENDINGs go out from start + DUE_AFTER_S to start + intake_s + DUE_AFTER_S;
    the earliest renewal is due DUE_AFTER_S after the minute that follows the first of them.
    """
    room = 60.0 - (intake_s + QUIET_S - DUE_AFTER_S)
    phase = (now + DUE_AFTER_S) % 60.0
    if room <= 1.0 or phase < room:
        # Either no renewal falls inside the run, or one always would (too long an intake).
        return now
    # A second into the next minute: a first PENDING a moment late stays in that minute.
    return now + 61.0 - phase


async def _run(port: int, per_line: list[list[bytes]]) -> tuple[int, float]:
    # Lines sign on one after another, each waiting for its SIGNON OK.
    events = [asyncio.Event() for _ in LINES]
    tasks = []
    # Sending starts when every line is signed on (about a second from now), at a second of
    # the minute that keeps renewed PENDINGs out of the run.
    begun = time.perf_counter()
    now = time.time()
    intake_s = sum(len(frames) for frames in per_line) / RATE
    begin = begun + quiet_start(now + 2.0, intake_s) - now
    for line, frames, event in zip(LINES, per_line, events, strict=True):
        tasks.append(asyncio.create_task(_line(port, line, frames, event, begin)))
        await event.wait()
    received = sum(await asyncio.gather(*tasks))
    return received, time.perf_counter() - begun


def _deadline_events(pid: int) -> list[dict[str, Any]]:
    """The gateway's ``hit.deadline`` events, from the log file its stdout writes to."""
    log = Path(os.readlink(f"/proc/{pid}/fd/1"))
    return [
        event
        for row in log.read_bytes().splitlines()
        if b'"hit.deadline"' in row
        for event in (orjson.loads(row),)
    ]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def open_hits(
    start: Callable[..., AbstractContextManager[Any]],
    memory_kib: Callable[[int, str], int],
    index_path: Path,
    count: int = COUNT,
) -> HitFigures:
    """Run the benchmark against a gateway ``start`` spawns (``.port``, ``.pid``)."""
    per_line = partial_yqs(index_path, count)
    settings = {"IAQGW_TECHNICIAN_DELAY": "off", "IAQGW_HIT_MARGIN_URGENT": MARGIN_URGENT}
    with _environment(settings), start() as gateway:
        idle = memory_kib(gateway.pid, "VmRSS")
        received, took = asyncio.run(_run(gateway.port, per_line))
        # Renewed PENDINGs of the first cases may come too (their new RTM minus 570 s).
        if received < count:
            raise RuntimeError(f"{received} PENDING YRs for {count} open cases")
        peak = memory_kib(gateway.pid, "VmHWM")
        late = sorted(float(event.get("late_ms", 0.0)) for event in _deadline_events(gateway.pid))
    if len(late) < count:
        raise RuntimeError(f"{len(late)} deadline actions logged for {count} open cases")
    return HitFigures(
        cases=count,
        run_s=took,
        idle_rss_mb=idle / 1024,
        peak_rss_mb=peak / 1024,
        actions=len(late),
        late_p99_ms=late[int(0.99 * (len(late) - 1))],
        late_max_ms=late[-1],
    )
