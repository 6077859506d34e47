"""What delivery and the switch ask of the MQTT bus, built before them: whether a line is in
service beyond this process (its presence), news of TCP sign-ons, and the link to MQTT lines
homed here, which publishes their numbered outputs.

The broker connection (gateway/bus/mqtt.py) hands this its client while connected and the
presence and instance news it receives.
"""

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.bus import Homes
from gateway.bus.client import BusClient, BusError, SeqProperties, delivered
from gateway.bus.store import BusStore
from gateway.bus.topics import output_topic, presence_topic
from gateway.journal import Journal, NumberedOutput

MQTT_PRESENCE = "mqtt"


def tcp_presence(instance: str) -> str:
    """Presence of a line signed on over TCP at ``instance``."""
    return f"tcp {instance}"


class BusLines:
    """Presence of every line, and the outputs of MQTT lines homed here."""

    def __init__(self, homes: Homes, store: BusStore, journal: Journal, log: Any) -> None:
        self._homes = homes
        self._store = store
        self._journal = journal
        self._log = log
        self._client: BusClient | None = None
        # Retained state other instances publish, as last seen.
        self._presence: dict[str, str] = {}
        # Live instance -> the token of its connection (a will names the token it ends).
        self._live: dict[str, str] = {}
        # Lines a TCP session holds here.
        self._tcp: set[str] = set()
        # Per MQTT line: the last output the broker took (durable), and the last handed to
        # the broker on this connection.
        self._published = store.published()
        self._published_dirty: dict[str, int] = {}
        self._sent: dict[str, int] = {}
        self._save_scheduled = False

    # what delivery and the switch ask

    def in_service(self, line: str) -> bool:
        """True for an MQTT line, or a line signed on at another live instance."""
        presence = self._presence.get(line)
        if presence == MQTT_PRESENCE:
            return True
        if presence is not None and presence.startswith("tcp "):
            holder = presence[4:]
            return holder != self._homes.instance and holder in self._live
        return False

    def link(self, line: str) -> "BusLines | None":
        """The link for an MQTT line homed here while the broker is connected, else None."""
        if (
            self._client is not None
            and self._presence.get(line) == MQTT_PRESENCE
            and not self._homes.is_remote(line)
        ):
            return self
        return None

    def signed_on(self, line: str, signed_on: bool) -> None:
        """A TCP session here took the line, or let it go: tell the other instances."""
        if signed_on:
            self._tcp.add(line)
        else:
            self._tcp.discard(line)
        self.publish_presence(line, tcp_presence(self._homes.instance) if signed_on else "")

    def send_outputs(self, outputs: Sequence[NumberedOutput], live: bool = True) -> None:
        """Publish numbered outputs of MQTT lines homed here, each once per connection."""
        client = self._client
        if client is None:
            return
        for output in outputs:
            line = output.line
            if output.seq <= self._sent.get(line, self._published.get(line, 0)):
                continue
            self._sent[line] = output.seq
            try:
                client.publish_soon(
                    output_topic(line), output.text.encode("ascii"),
                    functools.partial(self._output_published, line, output.seq),
                    properties=SeqProperties(output.seq),
                )
            except BusError:
                # The connection is going: the outputs wait in the journal for the next one.
                return

    def close(self, reason: str) -> None:
        """Nothing to close: the broker holds the line's session."""

    # what the broker connection reports

    def connected(self, client: BusClient) -> None:
        """The broker is up on ``client``: announce the lines TCP sessions hold here."""
        self._client = client
        self._sent = {}
        for line in list(self._tcp):
            self.publish_presence(line, tcp_presence(self._homes.instance))

    def disconnected(self) -> None:
        """The connection is gone: nothing is published until the next one."""
        self._client = None

    def is_live(self, instance: str) -> bool:
        """Whether the instance has announced its connection and its will has not come."""
        return instance in self._live

    def input_seen(self, line: str) -> None:
        """An MQTT line sent an input: it is on MQTT, and gets what the broker did not place."""
        if self._presence.get(line) is None:
            self.publish_presence(line, MQTT_PRESENCE)
        elif self._presence[line] == MQTT_PRESENCE and not self._homes.is_remote(line):
            # What the broker could not place with the line before goes now that it is back.
            self._resend(line)

    def on_presence(self, line: str, value: str) -> None:
        """Retained presence of a line, as published (empty: none)."""
        if value:
            self._presence[line] = value
        else:
            self._presence.pop(line, None)
        if self._homes.is_remote(line):
            return
        mine = tcp_presence(self._homes.instance)
        if line in self._tcp:
            if value != mine:
                # The home holds the line: its word wins over an instance that saw the line
                # on MQTT before it had heard of the TCP session.
                self.publish_presence(line, mine)
        elif value == mine:
            # Left over from before a restart of this instance.
            self.publish_presence(line, "")
        elif value == MQTT_PRESENCE:
            self._resend(line)

    def on_instance(self, name: str, payload: bytes) -> None:
        """An instance's retained announcement: its connection and instance list, or its will."""
        if not payload:
            return
        news = orjson.loads(payload)
        if "left" in news:
            # A will can arrive after the announcement of the connection that followed it
            # (both wait in this session across a broker restart): only its own counts.
            if self._live.get(name) == news["left"]:
                del self._live[name]
                self._log.info("bus.instance_left", instance=name)
            return
        self._live[name] = str(news["token"])
        # Envelopes may have waited for this home.
        self._store.wake()
        listed = tuple(news["instances"])
        if listed != self._homes.instances:
            # Two lists give two homes to some lines: their numbers would fork.
            self._log.error("bus.instances_mismatch", instance=name, theirs=",".join(listed),
                            ours=",".join(self._homes.instances))

    def homes_moved(self, gained: list[str], lost: list[str]) -> None:
        """MQTT lines homed here now: how far the broker took their outputs (their last home
        recorded it in the shared store), then what it has not taken."""
        published = self._store.published()
        for line in gained:
            self._published[line] = max(self._published.get(line, 0), published.get(line, 0))
            if self._client is not None and self._presence.get(line) == MQTT_PRESENCE:
                self._resend(line)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish when connected; lost with the connection, to be sent again after it."""
        client = self._client
        if client is not None:
            # Presence and ACKs are sent again in full after a reconnect; a session's sign-on
            # must not fail because the broker connection is going.
            with contextlib.suppress(BusError):
                client.publish_soon(topic, payload, retain=retain)

    def publish_presence(self, line: str, value: str) -> None:
        """Publish a line's presence (empty: none) and remember it."""
        if value:
            self._presence[line] = value
        else:
            self._presence.pop(line, None)
        self.publish(presence_topic(line), value.encode(), retain=True)

    def save_published(self) -> None:
        """Record how far the broker took each MQTT line's outputs."""
        self._save_scheduled = False
        if self._published_dirty:
            dirty, self._published_dirty = self._published_dirty, {}
            self._store.set_published(dirty)

    def _output_published(self, line: str, seq: int, reason: int) -> None:
        if not delivered(reason):
            # No session of the line subscribed: it goes again with the line's next input.
            self._log.warning("bus.output_refused", line=line, out_seq=seq, reason=reason)
            self._sent[line] = min(self._sent.get(line, 0), seq - 1)
            return
        if seq > self._published.get(line, 0):
            self._published[line] = seq
            self._published_dirty[line] = seq
            if not self._save_scheduled:
                self._save_scheduled = True
                asyncio.get_running_loop().call_soon(self.save_published)

    def _resend(self, line: str) -> None:
        """Publish what the broker has not taken of an MQTT line's outputs."""
        after = max(self._sent.get(line, 0), self._published.get(line, 0))
        if after >= self._journal.last_out(line):
            return
        outputs = self._journal.outputs_after(line, after)
        if outputs:
            self._log.info("bus.resend", line=line, first=outputs[0].seq, count=len(outputs))
            self.send_outputs(outputs)
