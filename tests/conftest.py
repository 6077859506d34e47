"""Fixtures: a real gateway on a loopback port with real SQLite files, and line clients."""

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from gateway_process import GatewayProcess
from hypothesis import settings as hypothesis_settings
from mqtt_broker import Broker, free_port, start_instances
from paths import RECORDS

from gateway.app import Gateway
from gateway.config import Settings
from gateway.logs import configure_logging
from simulator.client import LineClient
from simulator.postgres import PostgresServer

hypothesis_settings.register_profile("ci", deadline=None, max_examples=200)
hypothesis_settings.load_profile("ci")

configure_logging("json", os.environ.get("IAQGW_TEST_LOG_LEVEL", "WARNING"))


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Async tests and fixtures run on uvloop, the loop ``iaqgw serve`` and the simulator run
    on: libuv reports some socket faults differently from asyncio's selector loop
    (docs/scale-out.md, "The MQTT client")."""
    return {"uvloop": uvloop.new_event_loop}


def gateway_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test gateway: free port, data under tmp_path, the test records."""
    values: dict[str, Any] = {
        "port": 0,
        "data_dir": tmp_path / "data",
        "records": RECORDS,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Gateway]]]:
    """Start gateways in this event loop; every one is stopped at the end of the test."""
    started: list[Gateway] = []

    async def start(**overrides: Any) -> Gateway:
        gateway = Gateway(gateway_settings(tmp_path, **overrides))
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def gateway(start_gateway: Callable[..., Awaitable[Gateway]]) -> Gateway:
    """A running gateway with the test records."""
    return await start_gateway()


@pytest.fixture
async def connect(gateway: Gateway) -> AsyncIterator[Callable[..., Awaitable[LineClient]]]:
    """Sign lines on to the ``gateway`` fixture; every client is closed at the end."""
    clients: list[LineClient] = []

    async def open_line(line: str, key: str | None = None, **kwargs: Any) -> LineClient:
        client = await LineClient.connect("127.0.0.1", gateway.port, line, key, **kwargs)
        clients.append(client)
        return client

    yield open_line
    for client in clients:
        await client.close()


@pytest.fixture
def process(tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway child process (not started) with its data under tmp_path."""
    proc = GatewayProcess(tmp_path / "data")
    yield proc
    proc.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto on a free loopback port, configured for the line registry."""
    running = Broker(tmp_path / "mosquitto").start()
    yield running
    running.stop()


@pytest.fixture
def instances(tmp_path: Path, broker: Broker) -> Iterator[dict[str, GatewayProcess]]:
    """Two gateway processes sharing the broker."""
    started = start_instances(tmp_path, broker)
    yield started
    for process in started.values():
        process.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster per test worker (each test takes a database of it)."""
    server = PostgresServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def postgres(postgres_server: PostgresServer) -> str:
    """The URL of a fresh empty PostgreSQL database, for ``--store``."""
    return postgres_server.database()


@pytest.fixture
def shared_store(postgres: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every gateway and command of the test on one fresh PostgreSQL database
    (``IAQGW_STORE``): a module runs the SQLite tests it imports on PostgreSQL with
    ``pytestmark = pytest.mark.usefixtures("shared_store")``."""
    monkeypatch.setenv("IAQGW_STORE", postgres)
    yield postgres


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A listening TCP socket on 127.0.0.1: anything that tries to fetch from it is seen."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server, server.getsockname()[1]
    server.close()
