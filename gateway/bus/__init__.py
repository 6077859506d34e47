"""The bus between lines and gateway instances: in-process by default, MQTT with ``--bus``.

Every line has one *home* instance (docs/scale-out.md): the one whose journal numbers the
line's outputs, keeps them until acknowledged and delivers them, over TCP to a session it holds
or over MQTT. Homes come from the instance list by rendezvous hashing, so every instance with
the same list agrees without talking, and a changed list moves as few lines as possible.
"""

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gateway.app import Gateway

INSTANCE_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def home_of(line: str, instances: Sequence[str]) -> str:
    """The instance that is the line's home: highest rendezvous weight over ``instances``."""
    return max(instances, key=lambda name: hashlib.sha256(f"{name}\0{line}".encode()).digest())


def parse_instances(instance: str, listed: str | None) -> tuple[str, ...]:
    """The instance list from ``--instances`` (comma-separated; this instance when absent)."""
    names = tuple(n.strip() for n in listed.split(",")) if listed else (instance,)
    for name in (instance, *names):
        if not INSTANCE_RE.fullmatch(name):
            raise ValueError(f"instance name {name!r}: 1 to 32 of A-Z a-z 0-9 _ -")
    if len(set(names)) != len(names):
        raise ValueError("an instance is listed twice")
    if instance not in names:
        raise ValueError(f"instance {instance} is not in the instance list")
    return names


def parse_bus_url(url: str) -> tuple[str, int]:
    """(host, port) of ``mqtt://HOST:PORT`` (port 1883 when left out)."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"{url!r} is not mqtt://HOST:PORT")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"{url!r}: only mqtt://HOST:PORT (the account comes from IAQGW_BUS_*)")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise ValueError(f"{url!r}: bad port") from exc
    return parts.hostname, port


class Bus(Protocol):
    """What the gateway asks of its bus."""

    instance: str

    def home_of(self, line: str) -> str:
        """The instance that numbers and delivers the line's outputs."""
        ...

    def is_remote(self, line: str) -> bool:
        """True when another instance is the line's home."""
        ...

    def in_service(self, line: str) -> bool:
        """True when the line is reached beyond this process (over MQTT or on another home)."""
        ...

    async def start(self) -> None:
        """Begin carrying traffic."""
        ...

    async def stop(self) -> None:
        """Stop; what has not crossed yet waits in the journal."""
        ...


class LocalBus:
    """One process, no broker: every line's home is this instance."""

    def __init__(self, instance: str) -> None:
        self.instance = instance

    def home_of(self, line: str) -> str:
        """This instance."""
        return self.instance

    def is_remote(self, line: str) -> bool:
        """Never."""
        return False

    def in_service(self, line: str) -> bool:
        """Never: only local TCP sessions reach lines."""
        return False

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


def make_bus(gateway: "Gateway") -> Bus:
    """The bus ``--bus`` names: in-process without it, MQTT for ``mqtt://HOST:PORT``."""
    settings = gateway.settings
    instances = parse_instances(settings.instance, settings.instances)
    if settings.bus is None:
        if len(instances) > 1:
            raise ValueError("--instances needs --bus: instances meet only through a broker")
        return LocalBus(settings.instance)
    from gateway.bus.mqtt import MqttBus

    host, port = parse_bus_url(settings.bus)
    return MqttBus(gateway, host, port, instances)
