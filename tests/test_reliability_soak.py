"""Long soak (issue 6, `make soak`): steady mixed traffic over eight lines for minutes, with
abuse bursts now and then; nothing is lost, sequences stay gap-free and the gateway's
resident memory levels off. A short version runs in `make test`."""

import asyncio
import os
import random
import time
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from messages import am, iaq
from reliability_tools import LoadLine, connect_storm, open_fds, record_figure, rss_kib

from formats.framing import encode_frame

LINES = ("CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA")
# Growth of resident memory allowed after the warm-up (the first fifth of the run).
RSS_GROWTH_KIB = 32 * 1024
SOAK_SECONDS = float(os.environ.get("IAQGW_SOAK_SECONDS", "600"))


async def burst(port: int, rng: random.Random) -> None:
    """One of the abuse cases, briefly."""
    kind = rng.randrange(3)
    if kind == 0:
        await connect_storm(port, 300)
    elif kind == 1:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x02" + b"X" * 200_000 + b"\x03")
        await writer.drain()
        writer.close()
    else:
        for n in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(encode_frame(f"SIGNON.GU.GUESS{n}"))
            await asyncio.wait_for(reader.read(), 10)
            writer.close()


async def soak(tmp_path: Path, seconds: float, rate: int) -> dict[str, object]:
    """Run the soak; returns its figures."""
    proc = GatewayProcess(tmp_path / "data")
    try:
        proc.start()
        assert proc.proc is not None
        pid = proc.proc.pid
        rng = random.Random(6)
        lines = {code: await LoadLine.connect(proc.port, code) for code in LINES}
        expected = dict.fromkeys(LINES, 0)
        samples: list[tuple[float, int]] = []
        start = time.monotonic()
        sent = 0
        next_burst = next_sample = start
        bursts: list[asyncio.Task[None]] = []
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) - sent
            for n in range(due):
                code = LINES[(sent + n) % len(LINES)]
                sender = f"{code}0000000"
                if n % 4 == 3:
                    dest = rng.choice(LINES)
                    lines[code].send_nowait([am(sender, dest, text=f"SOAK {sent + n}")])
                    expected[dest] += 1
                else:
                    lines[code].send_nowait([iaq(sender, arn="012345678")])
                    expected[code] += 2
            sent += due
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - start, rss_kib(pid)))
                next_sample = now + seconds / 20
            if now >= next_burst:
                bursts.append(asyncio.create_task(burst(proc.port, rng)))
                next_burst = now + seconds / 10
            await asyncio.sleep(0.01)
        await asyncio.gather(*bursts)
        for code, line in lines.items():
            outputs = await line.wait_outputs(expected[code], timeout=60)
            assert [o.seq for o in outputs] == list(range(1, expected[code] + 1)), code
            await line.close()
        fds = open_fds(pid)
        assert proc.terminate() == 0
    finally:
        proc.stop()
    warm = [rss for at, rss in samples if at >= seconds / 5]
    assert max(warm) - min(warm) < RSS_GROWTH_KIB, samples
    return {
        "seconds": round(seconds), "sent": sent, "offered_rate": round(sent / seconds),
        "rss_first_kib": samples[0][1], "rss_after_warmup_kib": warm[0],
        "rss_last_kib": samples[-1][1], "rss_max_kib": max(rss for _, rss in samples),
        "fds_at_end": fds,
    }


async def test_short_soak(tmp_path: Path) -> None:
    figures = await soak(tmp_path, seconds=5, rate=1000)
    record_figure("soak_short", **figures)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 300)
async def test_long_soak(tmp_path: Path) -> None:
    figures = await soak(tmp_path, seconds=SOAK_SECONDS, rate=2000)
    record_figure("soak_long", **figures)
