"""Abuse (issue 6): oversize frames, trickling senders, connect storms, connections that never
sign on, repeated wrong keys and a line that never reads. The gateway answers what it must,
keeps its memory and descriptors bounded, and a probe line keeps being answered; the probe's
latency is measured and recorded (docs/reliability.md), never asserted."""

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from gateway_process import GatewayProcess
from messages import am
from reliability_tools import LoadLine, connect_storm, open_fds, record_figure, rss_kib

from formats.framing import encode_frame
from formats.notices import parse_er_body

CA = "CA0000000"
PROBE = Path(__file__).parent / "reliability_probe.py"
PROBE_RATE = 200  # IAQs per second from the probe line
# Growth of the gateway's resident memory that any one abuse case may cause.
RSS_BOUND_KIB = 64 * 1024
SETTINGS = {
    "IAQGW_SIGNON_TIMEOUT": "1",
    "IAQGW_WRITE_BUFFER_LIMIT": "65536",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in SETTINGS.items():
            env.setenv(name, value)
        proc = GatewayProcess(tmp_path_factory.mktemp("abuse") / "data")
        try:
            proc.start()
            yield proc
            alive = proc.proc is not None and proc.proc.poll() is None
        finally:
            proc.stop()
    assert alive, "the gateway process died"


def pid(gateway: GatewayProcess) -> int:
    """The gateway's process id."""
    assert gateway.proc is not None
    return gateway.proc.pid


@asynccontextmanager
async def probe(gateway: GatewayProcess) -> AsyncIterator[dict[str, Any]]:
    """The probe line NY in a process of its own while the body runs; its figures after."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(PROBE), str(gateway.port), "NY", str(PROBE_RATE),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    figures: dict[str, Any] = {}
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
        yield figures
    finally:
        proc.stdin.close()
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
    figures.update(json.loads(out))


async def under_probe(
    gateway: GatewayProcess, name: str, abuse: Callable[[], Awaitable[dict[str, object]]]
) -> dict[str, object]:
    """Run ``abuse`` while the probe runs; check the probe, memory; record the figures."""
    rss_before = rss_kib(pid(gateway))
    async with probe(gateway) as result:
        await asyncio.sleep(0.3)
        figures = await abuse()
    rss_after = rss_kib(pid(gateway))
    # The probe line lost nothing while the abuse went on.
    assert result["answered"] == result["sent"] > 0
    assert rss_after - rss_before < RSS_BOUND_KIB, (rss_before, rss_after)
    record_figure(f"abuse_{name}", probe_p99_ms=result["p99_ms"], probe_sent=result["sent"],
                  rss_before_kib=rss_before, rss_after_kib=rss_after, **figures)
    return figures


async def settled_fds(gateway: GatewayProcess, limit: int, timeout: float = 10.0) -> int:
    """Wait until the gateway holds at most ``limit`` descriptors; returns the count."""
    deadline = time.monotonic() + timeout
    while (count := open_fds(pid(gateway))) > limit and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return count


async def test_quiet_baseline(gateway: GatewayProcess) -> None:
    async def nothing() -> dict[str, object]:
        await asyncio.sleep(2.0)
        return {}

    await under_probe(gateway, "quiet", nothing)


async def test_oversize_frames(gateway: GatewayProcess) -> None:
    async def oversize() -> dict[str, object]:
        line = await LoadLine.connect(gateway.port, "CA")
        big = b"\x02" + b"X" * 100_000 + b"\x03"
        for _ in range(100):
            await line.send_raw(big)
        # A frame that never ends: 20 MB without an ETX, then a good frame.
        await line.send_raw(b"\x02")
        for _ in range(20):
            await line.send_raw(b"Y" * 1_000_000)
        await line.send_raw(b"\x03" + encode_frame(am(CA, "CA", text="STILL HERE")))
        outputs = await line.wait_outputs(102, timeout=30)
        codes = [parse_er_body(o.message.body)[0] for o in outputs[:101]]
        assert codes == ["0"] * 101
        assert outputs[101].message.body == "STILL HERE"
        await line.close()
        return {"bytes": 30_000_000, "oversize_frames": 101}

    await under_probe(gateway, "oversize", oversize)


async def test_trickle(gateway: GatewayProcess) -> None:
    async def trickle() -> dict[str, object]:
        line = await LoadLine.connect(gateway.port, "TX")
        frame = encode_frame(am("TX0000000", "TX", text="SLOW"))
        # A would-be line trickling a sign-on it never finishes is cut off at the sign-on
        # timeout (1 s here).
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        signon = encode_frame("SIGNON.FL.DEV-FL")[:-3]
        for index, byte in enumerate(frame):
            line.writer.write(bytes([byte]))
            if index < len(signon) and not writer.is_closing():
                writer.write(signon[index : index + 1])
            await asyncio.sleep(0.02)
        (out,) = await line.wait_outputs(1)
        assert out.message.body == "SLOW"
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        await line.close()
        return {"byte_interval_s": 0.02, "frame_bytes": len(frame)}

    await under_probe(gateway, "trickle", trickle)


async def test_connect_storm(gateway: GatewayProcess) -> None:
    base_fds = open_fds(pid(gateway))

    async def storm() -> dict[str, object]:
        rate = await connect_storm(gateway.port, 3000)
        return {"connects": 3000, "connects_per_s": round(rate)}

    await under_probe(gateway, "connect_storm", storm)
    # Every connection of the storm was let go.
    assert await settled_fds(gateway, base_fds + 2) <= base_fds + 2


async def test_connections_that_never_sign_on(gateway: GatewayProcess) -> None:
    base_fds = open_fds(pid(gateway))

    async def silent() -> dict[str, object]:
        conns = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(300)]
        # The gateway closes each at its 1 s sign-on timeout.
        ends = await asyncio.gather(
            *(asyncio.wait_for(reader.read(), 15) for reader, _ in conns)
        )
        assert ends == [b""] * 300
        for _, writer in conns:
            writer.close()
        return {"connections": 300}

    await under_probe(gateway, "never_sign_on", silent)
    assert await settled_fds(gateway, base_fds + 2) <= base_fds + 2


async def test_repeated_wrong_keys(gateway: GatewayProcess) -> None:
    offset = gateway.log_path.stat().st_size

    async def guesses() -> dict[str, object]:
        refused = 0
        for n in range(300):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", gateway.port, local_addr=("127.0.0.9", 0)
            )
            writer.write(encode_frame(f"SIGNON.GU.GUESS{n}"))
            reply = await asyncio.wait_for(reader.read(), 10)
            refused += b"SIGNON REJECTED" in reply
            writer.close()
        assert refused == 300
        return {"attempts": 300}

    await under_probe(gateway, "wrong_keys", guesses)
    rejected = [e for e in gateway.events(offset) if e.get("event") == "security.signon_rejected"]
    reasons = [e["reason"] for e in rejected]
    # Five key checks, then the address and the line are locked: no more PBKDF2 work.
    assert reasons.count("invalid key") == 5
    assert reasons.count("locked out") == 295
    locks = [e["locked"] for e in gateway.events(offset) if e.get("event") ==
             "security.signon_locked"]
    assert sorted(locks) == ["line:GU", "peer:127.0.0.9"]


@pytest.fixture
async def never_reading(gateway: GatewayProcess) -> AsyncIterator[socket.socket]:
    """Line PR signed on over a socket with a tiny receive buffer that is never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gateway.port))
    await asyncio.get_running_loop().sock_sendall(sock, encode_frame("SIGNON.PR.DEV-PR"))
    yield sock
    sock.close()


async def test_line_that_never_reads(gateway: GatewayProcess, never_reading: socket.socket) -> None:
    offset = gateway.log_path.stat().st_size
    body = "Z" * 8000
    total = 1000

    async def flood() -> dict[str, object]:
        await asyncio.sleep(0.3)  # the sign-on's key check
        sender = await LoadLine.connect(gateway.port, "CA")
        for n in range(total):
            await sender.send(am(CA, "PR", text=body, control=f"F{n}"))
        # Inputs are answered in order: when DONE comes back, every AM was taken.
        await sender.send(am(CA, "CA", text="DONE", control="DONE"))
        await sender.wait_control("DONE", timeout=60)
        await sender.close()
        return {"outputs": total, "output_bytes": total * len(body)}

    await under_probe(gateway, "never_reads", flood)
    events = gateway.events(offset)
    assert any(e.get("event") == "session.slow_reader" and e.get("line") == "PR" for e in events)
    # Cut off with its outputs kept: a reading PR gets every one, in order, gap-free.
    line = await LoadLine.connect(gateway.port, "PR")
    outputs = await line.wait_outputs(total, timeout=30)
    await line.close()
    controls = [o.message.control for o in outputs if o.message.mke == "AM"]
    assert controls[:total] == [f"F{n}" for n in range(total)]
    assert [o.seq for o in outputs] == list(range(line.last_ack + 1, line.last_ack + 1 +
                                                  len(outputs)))


def test_rss_reading_is_real(gateway: GatewayProcess) -> None:
    # The figures above come from /proc: a live gateway has tens of MiB resident.
    assert 10_000 < rss_kib(pid(gateway)) < 1_000_000
    assert os.path.exists(f"/proc/{pid(gateway)}/fd")


@pytest.fixture
def soak_gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in SETTINGS.items():
            env.setenv(name, value)
        proc = GatewayProcess(tmp_path / "data")
        try:
            proc.start()
            yield proc
        finally:
            proc.stop()


@pytest.mark.soak
@pytest.mark.timeout(300)
async def test_connect_storm_soak(soak_gateway: GatewayProcess) -> None:
    base_fds = open_fds(pid(soak_gateway))
    rates = []

    async def storm() -> dict[str, object]:
        # 1,000 connects a second for a minute, paced second by second.
        began = time.monotonic()
        for _ in range(60):
            start = time.monotonic()
            rates.append(await connect_storm(soak_gateway.port, 1000, workers=64))
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
        return {"connects": 60_000,
                "connects_per_s": round(60_000 / (time.monotonic() - began)),
                "slowest_second_connects_per_s": round(min(rates))}

    await under_probe(soak_gateway, "connect_storm_soak", storm)
    assert await settled_fds(soak_gateway, base_fds + 2) <= base_fds + 2


@pytest.mark.soak
@pytest.mark.timeout(300)
async def test_one_byte_a_second_soak(soak_gateway: GatewayProcess) -> None:
    async def trickle() -> dict[str, object]:
        line = await LoadLine.connect(soak_gateway.port, "TX")
        frame = encode_frame(am("TX0000000", "TX", text="1 BPS"))
        for byte in frame:
            await line.send_raw(bytes([byte]))
            await asyncio.sleep(1.0)
        (out,) = await line.wait_outputs(1)
        assert out.message.body == "1 BPS"
        await line.close()
        return {"byte_interval_s": 1.0, "frame_bytes": len(frame)}

    await under_probe(soak_gateway, "one_byte_a_second_soak", trickle)
