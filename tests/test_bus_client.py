"""The bus's MQTT client (paho's public API on the asyncio loop) against a real mosquitto."""

import asyncio
import functools
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from mqtt_broker import GATEWAY_ACCOUNT, Broker, free_port

from gateway.bus.client import (
    NO_MATCHING_SUBSCRIBERS,
    BusClient,
    BusError,
    ConnectRefused,
    delivered,
)
from gateway.bus.topics import input_topic, output_topic

Connect = Callable[..., Awaitable[BusClient]]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def connect(broker: Broker) -> AsyncIterator[Connect]:
    """Connect clients to the broker (gateway account unless a line is named); closed after."""
    opened: list[BusClient] = []

    async def open_client(identifier: str, line: str | None = None) -> BusClient:
        user, password = (line, f"DEV-{line}") if line else (
            GATEWAY_ACCOUNT.username, GATEWAY_ACCOUNT.password)
        client = BusClient("127.0.0.1", broker.port, identifier=identifier, username=user,
                           password=password, session_expiry=600)
        await client.connect()
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()


async def test_puback_reason_codes_say_what_the_broker_did(connect: Connect) -> None:
    gateway = await connect("test-gateway")
    ca = await connect("test-ca", line="CA")
    await ca.subscribe([output_topic("CA")])
    nobody = await gateway.publish_acked(output_topic("TX"), b"NOBODY LISTENS")
    assert nobody == NO_MATCHING_SUBSCRIBERS and not delivered(nobody)
    assert delivered(await gateway.publish_acked(output_topic("CA"), b"FOR CA"))
    assert await ca.publish_acked(input_topic("TX"), b"FORGED") == 0x87  # not authorized
    (message,) = await asyncio.wait_for(ca.receive(10), 5)
    assert (message.topic, message.payload) == (output_topic("CA"), b"FOR CA")


async def test_publish_soon_keeps_call_order_beyond_the_receive_maximum(
    connect: Connect,
) -> None:
    gateway = await connect("test-gateway")
    ca = await connect("test-ca", line="CA")
    await ca.subscribe([output_topic("CA")])
    count = 2500  # the test broker takes 1000 in flight (its Receive Maximum)
    reasons: list[tuple[int, int]] = []

    def acked(n: int, reason: int) -> None:
        reasons.append((n, reason))

    for n in range(count):
        gateway.publish_soon(output_topic("CA"), b"%d" % n, functools.partial(acked, n))
    got: list[bytes] = []
    while len(got) < count:
        batch = await asyncio.wait_for(ca.receive(1000), 5)
        for message in batch:
            ca.ack(message)
        got += [bytes(message.payload) for message in batch]
    assert got == [b"%d" % n for n in range(count)]
    await until(lambda: len(reasons) == count)
    assert reasons == [(n, 0) for n in range(count)]


async def test_a_message_not_acknowledged_comes_again_when_the_session_resumes(
    connect: Connect,
) -> None:
    gateway = await connect("test-gateway")
    ca = await connect("test-ca", line="CA")
    await ca.subscribe([output_topic("CA")])
    assert delivered(await gateway.publish_acked(output_topic("CA"), b"FIRST"))
    (first,) = await asyncio.wait_for(ca.receive(10), 5)
    assert first.payload == b"FIRST"
    await ca.close()  # without acknowledging FIRST
    # The broker sends it the moment the session resumes: no subscribe needed, and this
    # connection acknowledges it only now, by hand.
    again = await connect("test-ca", line="CA")
    (resent,) = await asyncio.wait_for(again.receive(10), 5)
    assert resent.payload == b"FIRST"
    again.ack(resent)
    await again.close()
    last = await connect("test-ca", line="CA")
    assert delivered(await gateway.publish_acked(output_topic("CA"), b"SECOND"))
    (second,) = await asyncio.wait_for(last.receive(10), 5)
    assert second.payload == b"SECOND"


async def test_wrong_password_is_refused_with_its_reason(broker: Broker) -> None:
    client = BusClient("127.0.0.1", broker.port, identifier="test-ca", username="CA",
                       password="DEV-TX")
    with pytest.raises(ConnectRefused) as refused:
        await client.connect()
    assert refused.value.reason == 0x87  # mosquitto: not authorized


async def test_no_broker_is_a_bus_error() -> None:
    client = BusClient("127.0.0.1", free_port(), identifier="test-nobody")
    with pytest.raises(BusError):
        await asyncio.wait_for(client.connect(), 10)


async def test_receive_and_publish_fail_once_the_broker_is_gone(
    connect: Connect, broker: Broker
) -> None:
    ca = await connect("test-ca", line="CA")
    await ca.subscribe([output_topic("CA")])
    broker.stop()
    with pytest.raises(BusError):
        await asyncio.wait_for(ca.receive(10), 10)
    with pytest.raises(BusError):
        await ca.publish_acked(input_topic("CA"), b"TOO LATE")


async def test_a_reset_right_behind_a_message_ends_the_connection() -> None:
    # uvloop (conftest) stops watching a socket that reports an error (the broker's reset)
    # after one last read: the message read then must not hide the reset.
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = BusClient("127.0.0.1", server.getsockname()[1], identifier="test-reset")
        connecting = asyncio.create_task(client.connect())
        broker, _ = await asyncio.to_thread(server.accept)
        with broker:
            assert (await asyncio.to_thread(broker.recv, 4096))[0] == 0x10  # CONNECT
            broker.sendall(b"\x20\x03\x00\x00\x00")  # CONNACK, accepted, no properties
            await connecting
            # Sent from the loop's own thread: the client reads nothing before the reset.
            body = struct.pack(">H", 1) + b"t" + b"\x00" + b"LAST WORDS"  # QoS 0 PUBLISH
            broker.sendall(bytes([0x30, len(body)]) + body)
            broker.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        (message,) = await asyncio.wait_for(client.receive(10), 5)
        assert message.payload == b"LAST WORDS"
        with pytest.raises(BusError, match="connection lost"):
            await asyncio.wait_for(client.receive(10), 5)
        await client.close()


async def test_a_connect_given_up_leaves_no_connection_behind(
    connect: Connect, broker: Broker
) -> None:
    gateway = await connect("test-gateway")
    ca = await connect("test-ca", line="CA")
    await ca.subscribe([output_topic("CA")])
    for _ in range(20):
        client = BusClient("127.0.0.1", broker.port, identifier="test-ca", username="CA",
                           password="DEV-CA")
        attempt = asyncio.create_task(client.connect())
        await asyncio.sleep(0)  # the worker thread is connecting now
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
    # A connection left behind would say CONNECT with the same name and take the session
    # over: the broker would close the one that is using it.
    await asyncio.sleep(0.5)
    assert delivered(await gateway.publish_acked(output_topic("CA"), b"STILL HERE"))
    (message,) = await asyncio.wait_for(ca.receive(10), 5)
    assert message.payload == b"STILL HERE"
