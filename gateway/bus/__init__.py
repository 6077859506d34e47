"""The bus between lines and gateway instances: in-process by default, MQTT with ``--bus``.

Every line has one *home* instance (docs/scale-out.md): the one whose journal numbers the
line's outputs, keeps them until acknowledged and delivers them, over TCP to a session it holds
or over MQTT. Homes come from the instance list by rendezvous hashing, so every instance with
the same list agrees without talking, and a changed list moves as few lines as possible.
"""

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

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


class Homes:
    """Which instance is each line's home: from the instance list alone, the same everywhere."""

    def __init__(self, instance: str, instances: Sequence[str], lines: Iterable[str]) -> None:
        self.instance = instance
        self.instances = tuple(instances)
        self._homes = {line: home_of(line, self.instances) for line in lines}
        # The instances whose lease stands (all of them without leases).
        self.live = frozenset(self.instances)
        # Dead instances whose broker session and unanswered inputs this one claimed.
        self.adopted: frozenset[str] = frozenset()
        # False while this instance waits for the others to let its lines go (it homes none).
        self.joined = True

    def set_live(
        self, live: Iterable[str], *, joined: bool = True
    ) -> tuple[list[str], list[str]]:
        """Spread the homes over the listed instances that are live (gateway/bus/leases.py);
        this one counts as live, and gets homes once ``joined``. Returns the lines homed here
        now that were not, and those homed elsewhere now that were here."""
        alive = set(live) | {self.instance}
        self.live = frozenset(alive)
        self.joined = joined
        among = tuple(name for name in self.instances
                      if name in alive and (joined or name != self.instance))
        before = self._homes
        self._homes = {line: home_of(line, among) for line in before}
        here = self.instance
        gained = [line for line, home in self._homes.items() if home == here != before[line]]
        lost = [line for line, home in before.items() if home == here != self._homes[line]]
        return gained, lost

    def set_adopted(self, names: Iterable[str]) -> bool:
        """Record the dead instances this one claimed (gateway/bus/leases.py); whether that
        changed them."""
        adopted = frozenset(names)
        changed = adopted != self.adopted
        self.adopted = adopted
        return changed

    def home_of(self, line: str) -> str:
        """The line's home instance (lines outside the registry: this one)."""
        return self._homes.get(line, self.instance)

    def is_remote(self, line: str) -> bool:
        """True when another instance numbers and delivers the line's outputs."""
        return self._homes.get(line, self.instance) != self.instance

    def lines(self) -> list[str]:
        """Every line of the registry."""
        return list(self._homes)

    def here(self) -> list[str]:
        """The lines homed on this instance."""
        return [line for line, home in self._homes.items() if home == self.instance]

    def elsewhere(self) -> list[tuple[str, str]]:
        """(line, home) of every line homed on another instance."""
        return [(line, home) for line, home in self._homes.items() if home != self.instance]


def bus_address(bus: str | None, instances: Sequence[str]) -> tuple[str, int] | None:
    """The broker ``--bus`` names, as (host, port); None for the in-process bus."""
    if bus is None:
        if len(instances) > 1:
            raise ValueError("--instances needs --bus: instances meet only through a broker")
        return None
    return parse_bus_url(bus)


class Bus(Protocol):
    """What the gateway starts and stops: the broker connection, or nothing."""

    async def start(self) -> None:
        """Begin carrying traffic."""
        ...

    async def stop(self) -> None:
        """Stop; what has not crossed yet waits in the journal."""
        ...


class LocalBus:
    """One process, no broker: every line's home is this instance."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""
