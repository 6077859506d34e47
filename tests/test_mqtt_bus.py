"""One gateway on a real mosquitto: MQTT lines and TCP lines reach each other (issue 5)."""

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiomqtt
import pytest
from messages import am, field_lines, iaq
from mqtt_broker import Broker
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paths import RECORDS

from formats.message import format_fields, format_input
from formats.notices import parse_er_body
from gateway.app import Gateway
from gateway.bus.client import SeqProperties
from gateway.bus.mqtt import MqttBus
from simulator.client import LineClient
from simulator.mqtt_client import MqttLineClient, connect_mqtt
from simulator.switches import Delivered, Target

AZ = "AZ0000000"
CA = "CA0000000"


@pytest.fixture
async def gateway(start_gateway: Callable[..., Awaitable[Gateway]], broker: Broker) -> Gateway:
    started = await start_gateway(bus=broker.url)
    assert isinstance(started.bus, MqttBus)
    await started.bus.wait_connected(10)
    return started


@pytest.fixture
async def lines(
    gateway: Gateway, broker: Broker
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Open lines: ``tcp`` on the gateway's port, ``mqtt`` on the broker."""
    opened: list[Any] = []

    async def open_line(line: str, transport: str = "tcp", **kwargs: Any) -> Any:
        if transport == "tcp":
            client: Any = await LineClient.connect("127.0.0.1", gateway.port, line, **kwargs)
        else:
            client = await MqttLineClient.connect("127.0.0.1", broker.port, line, **kwargs)
        opened.append(client)
        return client

    yield open_line
    for client in opened:
        await client.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate`` holds (state that travels through the broker)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_iaq_from_mqtt_line_answered_on_its_output_topic(lines: Any) -> None:
    az = await lines("AZ", "mqtt")
    await az.send(iaq(AZ, arn="012345678", control="MQ-1"))
    ack, iar = await az.recv_many(2)
    assert ack.message.mke == "AM" and ack.message.sender == "VTINS07S0"
    assert "LESC ACKNOWLEDGES RECEIPT OF IAQ" in ack.message.body
    assert iar.message.mke == "IAR" and field_lines(iar.message.body)["STS"] == "LPR"
    assert iar.message.control == "MQ-1" and iar.message.dest == AZ
    # The seq user property and the header agree.
    assert (ack.seq, iar.seq) == (1, 2)
    assert (ack.message.out_seq, iar.message.out_seq) == (1, 2)
    assert ack.message.in_seq == 1


async def test_mqtt_line_and_tcp_line_exchange_am(gateway: Gateway, lines: Any) -> None:
    az = await lines("AZ", "mqtt")
    ca = await lines("CA")
    await az.send(am(AZ, CA, text="FROM ARIZONA OVER MQTT", control="X1"))
    got = await ca.recv()
    assert got.message.mke == "AM" and got.message.sender == AZ
    assert got.message.body == "FROM ARIZONA OVER MQTT" and got.message.control == "X1"
    assert got.seq == 1
    await ca.send(am(CA, AZ, text="FROM CALIFORNIA OVER TCP"))
    back = await az.recv()
    assert back.message.sender == CA and back.message.body == "FROM CALIFORNIA OVER TCP"
    assert back.seq == 1
    # AZ is in service over MQTT, so CA got no SM: its next output is its own echo.
    await ca.send(am(CA, "CA", text="ECHO"))
    assert (await ca.recv()).message.body == "ECHO"


async def test_yq_and_yr_between_tcp_and_mqtt_lines(lines: Any) -> None:
    az = await lines("AZ", "mqtt")
    ca = await lines("CA")
    await az.send(am(AZ, "AZ", text="HELLO"))  # AZ is now known to be on MQTT
    await az.recv()
    yq_fields = {
        "RTY": "WP", "RNO": "1", "PRI": "U", "OCA": "CASE-77", "NIC": "W123456789",
        "NAM": "GARCIA, MARIA", "DOB": "19850314",
    }
    await ca.send(format_input("YQ", CA, [AZ], format_fields(yq_fields), "HC1"))
    yq = await az.recv()
    assert yq.message.mke == "YQ" and yq.message.sender == CA and yq.message.control == "HC1"
    assert field_lines(yq.message.body)["NIC"] == "W123456789"
    yr_fields = {**yq_fields, "STA": "CONFIRMED", "NAO": "SGT JONES"}
    await az.send(format_input("YR", AZ, [CA], format_fields(yr_fields), "HC1"))
    yr = await ca.recv()
    assert yr.message.mke == "YR" and yr.message.sender == AZ
    assert field_lines(yr.message.body)["STA"] == "CONFIRMED"


async def test_bad_input_over_mqtt_gets_er_and_line_goes_on(broker: Broker, lines: Any) -> None:
    az = await lines("AZ", "mqtt")
    # Bytes outside the character set: published raw, as a broken switch would.
    async with aiomqtt.Client("127.0.0.1", broker.port, username="AZ", password="DEV-AZ",
                              protocol=aiomqtt.ProtocolVersion.V5) as raw:
        await raw.publish("nlets/v1/in/AZ", b"AM.AZ0000000.CA.TXT\nCAF\xc9", qos=1)
    er = await az.recv()
    assert er.message.mke == "ER" and parse_er_body(er.message.body)[0] == "0"
    await az.send("SIGNON.AZ.DEV-AZ")
    er = await az.recv()
    code, detail, original = parse_er_body(er.message.body)
    assert code == "0" and "ALREADY SIGNED ON" in detail
    assert "DEV-AZ" not in er.text and original == "SIGNON.AZ.KEY WITHHELD"
    await az.send(am("TX0000000", "CA"))  # a sender not on this line
    er = await az.recv()
    assert parse_er_body(er.message.body)[0] == ".01."
    assert er.message.dest == "AZ"
    await az.send("HB")  # needs no answer on MQTT
    await az.send(am(AZ, "AZ", text="STILL HERE"))
    assert (await az.recv()).message.body == "STILL HERE"


async def test_ack_over_mqtt_is_journaled(gateway: Gateway, lines: Any) -> None:
    az = await lines("AZ", "mqtt")
    await az.send(iaq(AZ, arn="012345678"))
    await az.recv_many(2)
    await until(lambda: gateway.journal.last_ack("AZ") == 2)


async def test_outputs_wait_for_an_mqtt_line_until_it_is_seen(
    gateway: Gateway, lines: Any
) -> None:
    # AZ has a session on the broker but has sent nothing: the gateway cannot know it is there.
    az = await lines("AZ", "mqtt")
    ca = await lines("CA")
    for n in range(3):
        await ca.send(am(CA, "AZ", text=f"HELD {n}"))
    sms = await ca.recv_many(3)
    assert [o.message.mke for o in sms] == ["SM"] * 3
    assert gateway.journal.last_out("AZ") == 3
    # Its first input tells the gateway it is on MQTT; what waited comes, in order.
    await az.send("HB")
    held = await az.recv_many(3)
    assert [o.message.body for o in held] == ["HELD 0", "HELD 1", "HELD 2"]
    assert [o.seq for o in held] == [1, 2, 3]


async def test_outputs_published_while_the_line_is_away_wait_in_its_session(
    broker: Broker, lines: Any
) -> None:
    az = await lines("AZ", "mqtt")
    ca = await lines("CA")
    await az.send(am(AZ, "AZ", text="HELLO"))
    assert (await az.recv()).seq == 1
    await az.close()
    await ca.send(am(CA, "AZ", text="WHILE AWAY"))
    az = await lines("AZ", "mqtt")
    got = await az.recv()
    assert got.message.body == "WHILE AWAY" and got.seq == 2


@pytest.mark.parametrize("seq", [1, 99_999, 100_000, 123_456_789_012_345])
def test_seq_properties_pack_as_paho_would(seq: int) -> None:
    reference = Properties(PacketTypes.PUBLISH)
    reference.UserProperty = [("seq", str(seq))]
    assert SeqProperties(seq).pack() == reference.pack()


async def test_simulated_switch_connector_drives_an_mqtt_line(
    gateway: Gateway, broker: Broker
) -> None:
    delivered: list[Delivered] = []
    link = await connect_mqtt(Target("mqtt", "127.0.0.1", broker.port), "AZ", "DEV-AZ",
                              delivered.append)
    link.send(iaq(AZ, arn="012345678", control="SIM-1"))
    await until(lambda: len(delivered) == 2)
    assert [d.message.mke for d in delivered] == ["AM", "IAR"]
    assert [d.seq for d in delivered] == [1, 2] and link.counters.gaps == []
    # The switch acknowledges what it reads, as a simulated TCP switch does.
    await until(lambda: gateway.journal.last_ack("AZ") == 2)
    await link.close()


async def test_simulate_cli_drives_mqtt_lines(
    start_gateway: Callable[..., Awaitable[Gateway]], broker: Broker
) -> None:
    # A quick technician: the run waits for every enhanced response its IAQs are promised.
    gateway = await start_gateway(bus=broker.url, technician_delay="fixed",
                                  technician_delay_mean=0.05)
    assert isinstance(gateway.bus, MqttBus)
    await gateway.bus.wait_connected(10)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "simulate", "--bus", f"mqtt://127.0.0.1:{broker.port}",
        "--records", str(RECORDS), "--lines", "AZ,NV", "--rate", "100", "--count", "30",
        "--seed", "7", "--mix", "iaq=80,am=20", "--json", "--drain", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["sent"] == 30 and summary["answered"] == summary["sent"]
    assert gateway.journal.last_out("AZ") > 0 and gateway.journal.last_out("NV") > 0
