"""`iaqgw mqtt-config`, the shipped mosquitto configuration, and the broker's ACLs (issue 5)."""

import asyncio
import base64
import hashlib
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
from messages import am
from mqtt_broker import GATEWAY_ACCOUNT, Broker

from gateway.app import Gateway
from gateway.bus.mqtt import MqttBus
from gateway.datafiles import load_lines
from gateway.mqtt_config import line_accounts, mosquitto_hash, render_acl, render_conf
from routing.lines import LINE_CODES, hash_key
from simulator.client import SignOnRejected
from simulator.mqtt_client import MqttLineClient

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "deploy" / "mosquitto"
V5 = aiomqtt.ProtocolVersion.V5


def iaqgw(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the command line as a user would."""
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def password_ok(entry: str, password: str) -> bool:
    """Check a ``$7$`` password-file hash the way mosquitto does."""
    _, scheme, iterations, salt, digest = entry.split("$")
    assert scheme == "7"
    return hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt),
                               int(iterations), 64) == base64.b64decode(digest)


def publish_reason(port: int, user: str, password: str, topic: str, payload: bytes) -> int:
    """Publish once at QoS 1 with paho and return the reason code of the broker's PUBACK."""
    codes: list[int] = []
    acked = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(user, password)

    def on_publish(client: paho.Client, userdata: object, mid: int, reason: paho.ReasonCode,
                   properties: object) -> None:
        codes.append(reason.value)
        acked.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1)
        assert acked.wait(10), "no PUBACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def test_mosquitto_hash_matches_mosquitto_passwd_format() -> None:
    entry = mosquitto_hash("DEV-CA", b"\x00" * 12, 101)
    assert entry.startswith("$7$101$AAAAAAAAAAAAAAAA$")
    assert password_ok(entry, "DEV-CA") and not password_ok(entry, "DEV-TX")


def test_mqtt_config_writes_conf_passwords_and_acl(tmp_path: Path) -> None:
    out = tmp_path / "broker"
    result = iaqgw("mqtt-config", "--out", str(out), "--port", "18830")
    assert result.returncode == 0, result.stderr
    conf = (out / "mosquitto.conf").read_text()
    assert "listener 18830 127.0.0.1" in conf
    assert "allow_anonymous false" in conf and "persistence true" in conf
    assert f"password_file {out / 'passwords'}" in conf
    acl = (out / "acl").read_text()
    assert "user CA\ntopic write nlets/v1/in/CA\ntopic read nlets/v1/out/CA\n" in acl
    entries = dict(line.split(":", 1) for line in (out / "passwords").read_text().splitlines())
    assert set(entries) == {*LINE_CODES, "iaqgw"}
    assert password_ok(entries["TX"], "DEV-TX") and password_ok(entries["iaqgw"], "DEV-IAQGW")
    assert (out / "passwords").stat().st_mode & 0o077 == 0


def test_mqtt_config_needs_plain_keys_for_a_hashed_registry(tmp_path: Path) -> None:
    registry = tmp_path / "lines.csv"
    registry.write_text(
        "line,key,ice_office_ori,control_ori\n"
        f"CA,{hash_key('SECRET-CA', b'salt')},,\n"
        "TX,PLAIN-TX,,\n"
    )
    result = iaqgw("mqtt-config", "--out", str(tmp_path / "a"), "--lines", str(registry))
    assert result.returncode == 1 and "--keys" in result.stderr and "CA" in result.stderr
    keys = tmp_path / "keys.csv"
    keys.write_text("line,key\nCA,WRONG\n")
    result = iaqgw("mqtt-config", "--out", str(tmp_path / "b"), "--lines", str(registry),
                   "--keys", str(keys))
    assert result.returncode == 1 and "do not match" in result.stderr
    keys.write_text("line,key\nCA,SECRET-CA\n")
    result = iaqgw("mqtt-config", "--out", str(tmp_path / "c"), "--lines", str(registry),
                   "--keys", str(keys))
    assert result.returncode == 0, result.stderr
    entries = dict(
        line.split(":", 1) for line in (tmp_path / "c" / "passwords").read_text().splitlines()
    )
    assert password_ok(entries["CA"], "SECRET-CA") and password_ok(entries["TX"], "PLAIN-TX")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--bus", "ftp://127.0.0.1:1"], "--bus"),
        (["--bus", "mqtt://u:p@127.0.0.1:1883"], "--bus"),
        (["--instances", "a,b"], "--instances needs --bus"),
        (["--bus", "mqtt://127.0.0.1:1883", "--instances", "a,b"], "not in the instance list"),
        (["--bus", "mqtt://127.0.0.1:1883", "--instance", "a b"], "instance name"),
    ],
)
def test_serve_bus_usage_errors(tmp_path: Path, args: list[str], reason: str) -> None:
    result = iaqgw("serve", "--data-dir", str(tmp_path), *args)
    assert result.returncode == 2 and reason in result.stderr


def test_shipped_development_config_is_what_mqtt_config_writes() -> None:
    registry = load_lines(None)
    out = Path("deploy/mosquitto")
    assert (SHIPPED / "mosquitto.conf").read_text() == render_conf(out, 1883, as_root=True)
    assert (SHIPPED / "acl").read_text() == render_acl(registry, "iaqgw")
    entries = dict(line.split(":", 1) for line in (SHIPPED / "passwords").read_text().split())
    accounts = line_accounts(registry, {}, development=True)
    assert all(password_ok(entries[a.username], a.password) for a in accounts)
    assert password_ok(entries["iaqgw"], "DEV-IAQGW")


async def test_wrong_line_password_is_refused(broker: Broker) -> None:
    with pytest.raises(SignOnRejected):
        await MqttLineClient.connect("127.0.0.1", broker.port, "CA", "DEV-TX", timeout=5)


async def test_line_cannot_publish_as_another_line(
    start_gateway: Callable[..., Awaitable[Gateway]], broker: Broker
) -> None:
    gateway = await start_gateway(bus=broker.url)
    assert isinstance(gateway.bus, MqttBus)
    await gateway.bus.wait_connected(10)
    tx = await MqttLineClient.connect("127.0.0.1", broker.port, "TX")
    forged = am("TX0000000", "TX", text="FORGED").encode()
    reason = await asyncio.to_thread(publish_reason, broker.port, "CA", "DEV-CA",
                                     "nlets/v1/in/TX", forged)
    assert reason == 0x87  # Not authorized
    # The line's own topic works, and a message through it is answered...
    ca_line = await MqttLineClient.connect("127.0.0.1", broker.port, "CA")
    await ca_line.send(am("CA0000000", "CA", text="REAL"))
    assert (await ca_line.recv()).message.body == "REAL"
    # ...while the forged one never reached the gateway.
    db = sqlite3.connect(gateway.settings.journal_path)
    assert db.execute("SELECT COUNT(*) FROM inputs WHERE line = 'TX'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM inputs WHERE line = 'CA'").fetchone()[0] >= 1
    db.close()
    await tx.close()
    await ca_line.close()


async def test_line_reads_only_its_own_output_topic(broker: Broker) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, username="CA", password="DEV-CA",
                              protocol=V5) as ca:
        # mosquitto grants the subscriptions and filters every message by the ACL.
        await ca.subscribe([("#", 1), ("$share/iaqgw/nlets/v1/in/+", 1)])
        async with aiomqtt.Client("127.0.0.1", broker.port, username="TX", password="DEV-TX",
                                  protocol=V5) as tx:
            await tx.publish("nlets/v1/in/TX", b"TX INPUT", qos=1)
        async with aiomqtt.Client("127.0.0.1", broker.port,
                                  username=GATEWAY_ACCOUNT.username,
                                  password=GATEWAY_ACCOUNT.password, protocol=V5) as gateway:
            await gateway.publish("nlets/v1/out/TX", b"FOR TX", qos=1)
            await gateway.publish("iaqgw/v1/route/TX", b"BETWEEN INSTANCES", qos=1)
            await gateway.publish("nlets/v1/out/CA", b"FOR CA", qos=1)
        got = await asyncio.wait_for(anext(ca.messages), 5)
        assert (got.topic.value, got.payload) == ("nlets/v1/out/CA", b"FOR CA")
        # Nothing else was let through: the next thing CA sees is another message of its own.
        async with aiomqtt.Client("127.0.0.1", broker.port,
                                  username=GATEWAY_ACCOUNT.username,
                                  password=GATEWAY_ACCOUNT.password, protocol=V5) as gateway:
            await gateway.publish("nlets/v1/out/CA", b"SECOND", qos=1)
        got = await asyncio.wait_for(anext(ca.messages), 5)
        assert got.payload == b"SECOND"
