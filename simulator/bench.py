"""``make bench``: the figures in docs/benchmarks.md.

The gateway runs as its own process pinned to one core; the load comes from this process on
another core, with a lean client that counts frames instead of parsing them, so the client is
not what is measured.
"""

import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import orjson
import uvloop

from formats.control import format_ack, format_signon
from formats.framing import encode_frame
from formats.iaq import validate_iaq
from formats.message import format_fields, format_input, parse_fields, parse_input
from routing.lines import dev_key

BENCH_DATA = Path("data/bench")
BENCH_RECORDS = 1_000_000
LINES = ("AL", "AZ", "CA", "CO", "FL", "GA", "IL", "MA", "MI", "NJ", "NY", "OH", "PA",
         "TX", "VA", "WA")


def sample_iaq(sender: str, n: int) -> str:
    """An IAQ that exercises the name search (no A-number)."""
    fields = {
        "PUR": "C", "ATN": "DET SMITH", "PHN": "916-555-0100",
        "NAM": f"GARCIA, MARIA {chr(65 + n % 26)}", "DOB": f"{1950 + n % 50}0314",
        "SEX": "F", "POB": "MX", "CUS": "N", "OFF": "0399",
    }
    return format_input("IAQ", sender, ["AX"], format_fields(fields), f"B{n % 100000}")


def bench_parse(count: int = 200_000) -> float:
    """IAQ parse + field split + validation per second on one core."""
    texts = [sample_iaq("CA0000000", n) for n in range(1000)]
    today = date(2026, 11, 23)
    start = time.perf_counter()
    for n in range(count):
        msg = parse_input(texts[n % 1000])
        validate_iaq(parse_fields(msg.body), today)
    return count / (time.perf_counter() - start)


@contextmanager
def gateway_process(data_dir: Path, cpu: int = 0) -> Iterator[int]:
    """Start ``iaqgw serve`` pinned to one core; yield its port."""
    log = tempfile.NamedTemporaryFile(prefix="iaqgw-bench-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", "0", "--data-dir", str(data_dir),
         "--synthetic-records", str(BENCH_RECORDS)],
        stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    try:
        port = 0
        deadline = time.monotonic() + 300
        while not port and time.monotonic() < deadline:
            time.sleep(0.1)
            for line in Path(log.name).read_bytes().splitlines():
                if b"gateway.started" in line:
                    port = int(orjson.loads(line)["port"])
            if proc.poll() is not None:
                raise RuntimeError(Path(log.name).read_text()[-2000:])
        yield port
    finally:
        proc.terminate()
        proc.wait(30)
        os.unlink(log.name)


async def _drive_line(port: int, line: str, count: int, window: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_frame(format_signon(line, dev_key(line))))
    reply = await reader.readuntil(b"\x03")
    last_ack = int(reply.strip(b"\x02\x03").split()[-1])
    sender = f"{line}0000000"
    texts = [encode_frame(sample_iaq(sender, n)) for n in range(min(count, 1000))]
    sent = received = 0
    # Each IAQ yields two outputs (acknowledgement and IAR).
    expected = 2 * count
    while sent < min(window, count):
        writer.write(texts[sent % len(texts)])
        sent += 1
    while received < expected:
        data = await reader.read(1 << 16)
        if not data:
            raise ConnectionError(f"{line}: gateway closed")
        frames = data.count(b"\x03")
        received += frames
        more = min(count - sent, (received // 2) + window - sent)
        if more > 0:
            writer.write(b"".join(texts[(sent + i) % len(texts)] for i in range(more)))
            sent += more
        if frames:
            writer.write(encode_frame(format_ack(last_ack + received)))
    writer.close()
    return received // 2


async def _end_to_end(port: int, per_line: int, window: int) -> float:
    start = time.perf_counter()
    done = await asyncio.gather(*(_drive_line(port, ln, per_line, window) for ln in LINES))
    return sum(done) / (time.perf_counter() - start)


def bench_end_to_end(per_line: int = 3000, window: int = 64) -> float:
    """End-to-end IAQ per second: 16 lines, ``window`` IAQs in flight on each."""
    os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})
    with gateway_process(BENCH_DATA) as port:
        uvloop.run(_end_to_end(port, per_line // 10, window))  # warm-up
        return uvloop.run(_end_to_end(port, per_line, window))


def main() -> None:
    """Run every benchmark and print the figures."""
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print(f"date: {date.today().isoformat()}")
    subprocess.run([sys.executable, "-m", "gateway", "data", "build", "--data-dir",
                    str(BENCH_DATA), "--synthetic-records", str(BENCH_RECORDS)], check=True)
    print(f"IAQ parse+validate: {bench_parse():,.0f}/s on one core (target 150,000/s)")
    print(f"end-to-end IAQ: {bench_end_to_end():,.0f}/s, 16 lines x 64 in flight, "
          f"gateway on one core (target 25,000/s)")


if __name__ == "__main__":
    main()
