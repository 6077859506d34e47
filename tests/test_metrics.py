"""Prometheus metrics: scrape a real gateway's /metrics endpoint after real traffic."""

import asyncio
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway_process import GatewayProcess
from messages import am, iaq
from prometheus_client.parser import text_string_to_metric_families

from formats.message import format_input
from gateway.app import Gateway
from simulator.client import LineClient

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_sync(port: int) -> Samples:
    """Every sample of the endpoint, keyed by (name, labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(port: int) -> Samples:
    """Scrape from a thread, so the gateway in this loop keeps running."""
    return await asyncio.get_running_loop().run_in_executor(None, scrape_sync, port)


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_follow_the_traffic(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(metrics_port=0)
    assert gateway.metrics_port
    client = await LineClient.connect("127.0.0.1", gateway.port, "CA", auto_ack=False)
    await client.send(iaq("CA0000000"))
    await client.send(iaq("CA0000000", OFF=None))  # ER .14.
    await client.send(am("CA0000000", "TX"))  # TX is not signed on: stored, SM to CA
    outputs = await client.recv_many(4)
    assert [o.message.mke for o in outputs] == ["AM", "IAR", "ER", "SM"]
    samples = await scrape(gateway.metrics_port)
    assert value(samples, "iaqgw_messages_in_total", line="CA", mke="IAQ") == 2
    assert value(samples, "iaqgw_messages_in_total", line="CA", mke="AM") == 1
    assert value(samples, "iaqgw_errors_total", code=".14.") == 1
    assert value(samples, "iaqgw_messages_out_total", line="CA", mke="IAR") == 1
    assert value(samples, "iaqgw_messages_out_total", line="CA", mke="ER") == 1
    assert value(samples, "iaqgw_latency_seconds_count", mke="IAR") == 1
    assert value(samples, "iaqgw_signed_on_lines") == 1
    assert value(samples, "iaqgw_stored_messages", line="TX") == 1
    assert value(samples, "iaqgw_stored_messages", line="CA") == 4
    assert ("iaqgw_write_queue_bytes", frozenset({("line", "CA")})) in samples
    await client.ack(outputs[-1].seq)
    await client.close()
    async with asyncio.timeout(10):
        while gateway.desk.sessions or gateway.journal.last_ack("CA") < outputs[-1].seq:
            await asyncio.sleep(0.01)
    samples = await scrape(gateway.metrics_port)
    assert value(samples, "iaqgw_stored_messages", line="CA") == 0
    assert value(samples, "iaqgw_signed_on_lines") == 0


async def test_open_hit_confirmations_and_technician_queue(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(metrics_port=0, technician_delay="off")
    assert gateway.metrics_port
    client = await LineClient.connect("127.0.0.1", gateway.port, "TX")
    # Two records share the name key: STS/MLT, an enhanced response for the technician.
    await client.send(iaq("TX0000000", NAM="NGUYEN, THANH", DOB="19900707", SEX="M"))
    # One letter short of the IVF record's first name: a partial match, PENDING.
    fields = ("RTY/WP.RNO/1.PRI/U.OCA/TX123.NIC/I123456789.NAM/LOPEZ, CARLO.DOB/19750505.")
    await client.send(format_input("YQ", "TX0000000", ["VTINS07S0"], fields, "Y1"))
    # A partial match is answered by the technician (or PENDING near the deadline), not now.
    outputs = await client.recv_many(2)
    assert [o.message.mke for o in outputs] == ["AM", "IAR"]
    assert "STS/MLT." in outputs[1].message.body
    await client.heartbeat()
    while client.heartbeat_answers == 0:  # the YQ came before the HB, so it is processed
        await asyncio.sleep(0.01)
    samples = await scrape(gateway.metrics_port)
    assert value(samples, "iaqgw_open_hit_confirmations") == 1
    assert value(samples, "iaqgw_technician_queue") == 2
    await client.close()


async def test_no_metrics_port_no_endpoint(gateway: Gateway) -> None:
    assert gateway.metrics is None and gateway.metrics_port is None


def test_serve_flag_exposes_metrics(tmp_path: Path) -> None:
    process = GatewayProcess(tmp_path / "data", "--metrics-port", "0")
    try:
        process.start()
        started = next(e for e in process.events() if e.get("event") == "gateway.started")
        port = int(str(started["metrics_port"]))
        samples = scrape_sync(port)
        assert value(samples, "iaqgw_signed_on_lines") == 0
        assert ("iaqgw_stored_messages", frozenset({("line", "CA")})) in samples
        assert process.terminate() == 0
    finally:
        process.stop()
