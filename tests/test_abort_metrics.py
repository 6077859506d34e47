"""The Prometheus scrape never touches sessions off the event loop (issue 9).

The scrape runs on the HTTP server's thread; the sessions and their transports belong to the
event loop. The test records the thread on which a session's write buffer is read.
"""

import concurrent.futures
import threading
from collections.abc import Awaitable, Callable

import pytest
from test_metrics import scrape, scrape_sync, value

from gateway.app import Gateway
from gateway.session import LineSession
from simulator.client import LineClient


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Threads that read a session's write buffer."""
    threads: set[int] = set()
    original = LineSession.write_buffer_size

    def recorded(session: LineSession) -> int:
        threads.add(threading.get_ident())
        return original(session)

    monkeypatch.setattr(LineSession, "write_buffer_size", recorded)
    return threads


async def test_the_scrape_reads_sessions_on_the_event_loop(
    start_gateway: Callable[..., Awaitable[Gateway]], readers: set[int]
) -> None:
    gateway = await start_gateway(metrics_port=0)
    assert gateway.metrics_port
    client = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    samples = await scrape(gateway.metrics_port)
    assert value(samples, "iaqgw_signed_on_lines") == 1
    assert readers == {threading.get_ident()}
    await client.close()


async def test_a_scrape_while_the_loop_is_busy_shows_the_last_snapshot(
    start_gateway: Callable[..., Awaitable[Gateway]], readers: set[int]
) -> None:
    gateway = await start_gateway(metrics_port=0)
    assert gateway.metrics_port
    client = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    assert value(await scrape(gateway.metrics_port), "iaqgw_signed_on_lines") == 1
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The loop thread waits for the scrape and runs nothing meanwhile.
        samples = pool.submit(scrape_sync, gateway.metrics_port).result(timeout=10)
    assert value(samples, "iaqgw_signed_on_lines") == 1
    assert ("iaqgw_stored_messages", frozenset({("line", "CA")})) in samples
    assert readers == {threading.get_ident()}
    await client.close()
