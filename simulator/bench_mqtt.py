"""``make bench``, MQTT part: end-to-end IAQ/s over a real mosquitto (docs/benchmarks.md).

Runs under the same closed-loop load (MQTT lines, each keeping ``window`` IAQs in flight,
QoS 1 both ways): one gateway instance, two instances sharing the inputs (outputs for lines
homed on the other instance cross the broker once more), each with SQLite journals and then
on one shared PostgreSQL database (a throwaway cluster, simulator/postgres.py), and an echo
that answers each input with two messages of its size without any work: the most the broker
and a Python client can carry per IAQ on this machine. The load, the echo and the gateway use
the same MQTT client (gateway/bus/client.py). Each server runs in its own process; the first
instance and the echo are pinned to core 0, the second instance to core 1; mosquitto,
PostgreSQL and the load are left to the scheduler.

``python -m simulator.bench_mqtt echo PORT`` is the echo server.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvloop

from gateway.bus.client import BusClient, BusError
from gateway.bus.topics import SHARED_INPUT, input_topic, output_topic
from gateway.datafiles import load_lines
from gateway.mqtt_config import BrokerAccount, line_accounts, write_config
from routing.lines import dev_key
from simulator.postgres import PostgresServer

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
GATEWAY = BrokerAccount("iaqgw", "DEV-IAQGW")
ACK_EVERY = 128
RECEIVE_BATCH = 256
START_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(path: Path, marker: bytes, proc: subprocess.Popen[bytes], count: int = 1) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while path.read_bytes().count(marker) < count:
        if proc.poll() is not None:
            raise RuntimeError(path.read_text(errors="replace")[-2000:])
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {marker!r} in {path}")
        time.sleep(0.02)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError("mosquitto exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def _broker(work: Path) -> Iterator[int]:
    registry = load_lines(None)
    port = _free_port()
    write_config(work / "mosquitto", registry, line_accounts(registry, {}, development=True),
                 GATEWAY, port)
    log = (work / "mosquitto.log").open("wb")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(work / "mosquitto" / "mosquitto.conf")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _pin(cpu: int) -> Callable[[], None]:
    return lambda: os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})


@contextmanager
def _servers(work: Path, port: int, instances: Sequence[str], index: Path,
             records: int, store: str | None = None) -> Iterator[None]:
    """Gateway instances on the broker, each on a fresh journal (or all on the PostgreSQL
    database ``store``), pinned one per core."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for cpu, name in enumerate(instances):
            data = work / f"gateway-{name}"
            data.mkdir()
            (data / index.name).symlink_to(index.resolve())
            log_path = data / "gateway.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "gateway", "serve", "--port", "0", "--data-dir",
                     str(data), "--synthetic-records", str(records), "--bus",
                     f"mqtt://127.0.0.1:{port}", "--instance", name, "--instances",
                     ",".join(instances), *(("--store", store) if store else ())],
                    stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=_pin(cpu),
                    env={**os.environ, "IAQGW_TECHNICIAN_DELAY": "off"},
                )
            procs.append(proc)
            _wait_for(log_path, b"bus.connected", proc)
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


@contextmanager
def _echo(port: int) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-m", "simulator.bench_mqtt", "echo", str(port)],
                            preexec_fn=_pin(0))
    try:
        _wait_until_echo(port)
        yield
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_until_echo(port: int) -> None:
    """An input on a line's topic comes back: the echo is subscribed."""

    async def probe() -> None:
        async with BusClient("127.0.0.1", port, identifier="bench-probe", username="AL",
                             password=dev_key("AL")) as client:
            await client.subscribe([output_topic("AL")])
            await client.publish_acked(input_topic("AL"), b"PROBE")
            await client.receive(1)

    for _ in range(50):
        try:
            uvloop.run(asyncio.wait_for(probe(), 2))
            return
        except (TimeoutError, BusError):
            time.sleep(0.1)
    raise TimeoutError("the echo did not answer")


async def _drive_line(port: int, line: str, texts: list[bytes], count: int, window: int,
                      ready: asyncio.Barrier) -> tuple[int, float]:
    """One MQTT line, ``window`` IAQs in flight; returns IAQs answered and when it finished."""
    async with BusClient("127.0.0.1", port, identifier=f"bench-{line}", username=line,
                         password=dev_key(line)) as client:
        await client.subscribe([output_topic(line)])
        topic = input_topic(line)
        await ready.wait()
        sent = received = 0
        while sent < min(window, count):
            client.publish_soon(topic, texts[sent % len(texts)])
            sent += 1
        while received < 2 * count:
            for message in await client.receive(RECEIVE_BATCH):
                client.ack(message)
                received += 1
                if received % ACK_EVERY == 0:
                    client.publish_soon(topic, f"ACK.{received}".encode())
                more = min(count - sent, received // 2 + window - sent)
                for _ in range(more):
                    client.publish_soon(topic, texts[sent % len(texts)])
                    sent += 1
        return received // 2, time.perf_counter()


async def _load(port: int, lines: Sequence[str], make_iaq: Callable[[str, int], str],
                per_line: int, window: int) -> float:
    ready = asyncio.Barrier(len(lines) + 1)
    tasks = [
        asyncio.create_task(_drive_line(
            port, line, [make_iaq(f"{line}0000000", n).encode() for n in range(200)],
            per_line, window, ready,
        ))
        for line in lines
    ]
    await ready.wait()
    start = time.perf_counter()
    done = await asyncio.gather(*tasks)
    return sum(answered for answered, _ in done) / (max(end for _, end in done) - start)


def _rate(port: int, lines: Sequence[str], make_iaq: Callable[[str, int], str],
          per_line: int, window: int) -> float:
    uvloop.run(_load(port, lines, make_iaq, max(per_line // 10, 1), window))  # warm-up
    return uvloop.run(_load(port, lines, make_iaq, per_line, window))


def bench_mqtt(data: Path, records: int, lines: Sequence[str],
               make_iaq: Callable[[str, int], str], per_line: int = 1500,
               window: int = 64) -> list[str]:
    """Run the MQTT figures (SQLite journals, then one shared PostgreSQL database, one and two
    instances, then the echo); print them and return rows for the benchmark table."""
    index = data / f"index-synthetic-{records}.sqlite3"
    rates: dict[str, float] = {}
    postgres = PostgresServer(_free_port()).start()
    try:
        for label, instances, store in (
            ("one", ("a",), None), ("two", ("a", "b"), None),
            ("pg one", ("a",), postgres.database()), ("pg two", ("a", "b"), postgres.database()),
        ):
            work = Path(tempfile.mkdtemp(prefix="iaqgw-bench-mqtt-"))
            try:
                with _broker(work) as port, _servers(work, port, instances, index, records,
                                                     store):
                    rates[label] = _rate(port, lines, make_iaq, per_line, window)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        postgres.stop()
    work = Path(tempfile.mkdtemp(prefix="iaqgw-bench-mqtt-"))
    try:
        with _broker(work) as port, _echo(port):
            rates["echo"] = _rate(port, lines, make_iaq, per_line, window)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"over MQTT ({len(lines)} lines x {window} in flight): one instance "
          f"{rates['one']:,.0f} IAQ/s, two instances {rates['two']:,.0f} IAQ/s; on PostgreSQL "
          f"{rates['pg one']:,.0f} and {rates['pg two']:,.0f} IAQ/s; "
          f"echo through mosquitto {rates['echo']:,.0f}/s")
    return [
        f"| end-to-end IAQ/s over MQTT, one instance ({len(lines)} lines x {window}) "
        f"| {rates['one']:,.0f}/s | - |",
        f"| end-to-end IAQ/s over MQTT, two instances | {rates['two']:,.0f}/s | - |",
        f"| same, one instance on a PostgreSQL store | {rates['pg one']:,.0f}/s | - |",
        f"| same, two instances on one PostgreSQL store | {rates['pg two']:,.0f}/s | - |",
        f"| echo through mosquitto, same load (ceiling) | {rates['echo']:,.0f}/s | - |",
    ]


async def _echo_server(port: int) -> None:
    """Answer every input with two messages of its size on the line's output topic."""
    async with BusClient("127.0.0.1", port, identifier="bench-echo",
                         username=GATEWAY.username, password=GATEWAY.password) as client:
        await client.subscribe([SHARED_INPUT])
        while True:
            for message in await client.receive(RECEIVE_BATCH):
                client.ack(message)
                payload = bytes(message.payload)
                if payload.startswith(b"ACK."):
                    continue
                line = message.topic.rsplit("/", 1)[-1]
                client.publish_soon(output_topic(line), payload)
                client.publish_soon(output_topic(line), payload)


if __name__ == "__main__" and sys.argv[1:2] == ["echo"]:
    uvloop.run(_echo_server(int(sys.argv[2])))
