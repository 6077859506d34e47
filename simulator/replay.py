"""``iaqgw replay``: send a record's inputs again and compare the answers with the recorded ones.

Outputs are compared per (receiving line, control field), in arrival order, after the parts
that differ from run to run are masked: output header clocks and sequence numbers, LESC
control numbers, clock times and dates in bodies (docs/simulator.md lists the rules). A replay
waits until the outputs compare equal to the recorded ones (then a quiet moment for any beyond
them), or until its time is up: a count of outputs says nothing about what they are.
"""

import asyncio
import difflib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from formats.errors import MessageError
from formats.nlets_xml import is_xml, parse_xml_output, read_input
from formats.output import parse_output
from simulator.record import TrafficRecord
from simulator.switches import Delivered, OwnOutputs, Target, connect_all

# (pattern, replacement) applied to output bodies, in order.
MASKS: Final = (
    (re.compile(r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9:]+)?"), "<TIMESTAMP>"),
    (re.compile(r"\b[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?\b"), "<HH:MM>"),
    (re.compile(r"\b[0-9]{2}/[0-9]{2}/[0-9]{4}\b"), "<MM/DD/CCYY>"),
    (re.compile(r"\bLCN/[0-9]+"), "LCN/<LCN>"),
    (re.compile(r"CONTROL NUMBER [0-9]+"), "CONTROL NUMBER <LCN>"),
    (re.compile(r"\bRTM/[0-9]{4}"), "RTM/<HHMM>"),
    # The technician on duty follows the LESC control number (responders/lesc/technician.py).
    (re.compile(r"LESC TECHNICIAN [0-9]+"), "LESC TECHNICIAN <N>"),
)
MAX_SHOWN = 20

Key = tuple[str, str | None]


def parse_speed(text: str) -> float | None:
    """``1x``, ``10x``, any ``Nx`` with N > 0, or ``max`` (None: no pacing)."""
    if text == "max":
        return None
    number = text.removesuffix("x")
    try:
        speed = float(number)
    except ValueError:
        speed = 0.0
    if not text.endswith("x") or not speed > 0 or speed == float("inf"):
        raise ValueError(f"--speed {text!r}: write 1x, 10x, another Nx or max")
    return speed


def normalize(line: str, text: str) -> tuple[Key, str]:
    """The comparison key of an output and its text with the run-dependent parts masked.

    An output in either form (text or Nlets XML) is compared by its values, so a record made
    with XML lines verifies against a replay whatever the form.
    """
    try:
        message = parse_xml_output(text) if is_xml(text) else parse_output(text)
    except MessageError:
        return (line, None), _mask(text)
    return (line, message.control), f"{message.mke}.{message.sender} TO {message.dest}\n" + _mask(
        message.body
    )


def _mask(body: str) -> str:
    for pattern, replacement in MASKS:
        body = pattern.sub(replacement, body)
    return body


def _grouped(outputs: Iterable[tuple[str, str]]) -> dict[Key, list[str]]:
    groups: dict[Key, list[str]] = {}
    for line, text in outputs:
        key, normal = normalize(line, text)
        groups.setdefault(key, []).append(normal)
    return groups


class Comparison:
    """Recorded outputs against replayed ones as they arrive, group by group."""

    def __init__(self, recorded: Iterable[tuple[str, str]]) -> None:
        self.recorded = _grouped(recorded)
        self.replayed: dict[Key, list[str]] = {}
        self._differing = set(self.recorded)
        self._missing = set(self.recorded)  # groups that so far hold the start of the record's

    def add(self, line: str, text: str) -> None:
        """One replayed output (line, text), in arrival order."""
        key, normal = normalize(line, text)
        group = self.replayed.setdefault(key, [])
        group.append(normal)
        recorded = self.recorded.get(key, [])
        if group == recorded:
            self._differing.discard(key)
            self._missing.discard(key)
            return
        self._differing.add(key)
        if len(group) < len(recorded) and recorded[: len(group)] == group:
            self._missing.add(key)
        else:
            self._missing.discard(key)

    @property
    def missing(self) -> bool:
        """Whether a group still lacks outputs the record has and is right so far (more may
        come); a group that went wrong stays wrong however long one waits."""
        return bool(self._missing)

    def differences(self) -> list["Difference"]:
        """The groups that differ, in the record's order, then the ones it does not have."""
        keys = list(dict.fromkeys([*self.recorded, *self.replayed]))
        return [
            Difference(key, self.recorded.get(key, []), self.replayed.get(key, []))
            for key in keys
            if key in self._differing
        ]


@dataclass(frozen=True, slots=True)
class Difference:
    """Outputs for one (line, control) that differ between the record and the replay."""

    key: Key
    recorded: list[str]
    replayed: list[str]

    def render(self) -> str:
        """A unified diff under a heading that names the line and control field."""
        line, control = self.key
        heading = f"line {line}, " + (f"control *{control}" if control else "no control field")
        recorded = [part for text in self.recorded for part in (*text.split("\n"), "--")]
        replayed = [part for text in self.replayed for part in (*text.split("\n"), "--")]
        diff = difflib.unified_diff(recorded, replayed, "recorded", "replayed", lineterm="", n=2)
        return heading + f" ({len(self.recorded)} recorded, {len(self.replayed)} replayed)\n" + (
            "\n".join(diff)
        )


def compare(recorded: Iterable[tuple[str, str]],
            replayed: Iterable[tuple[str, str]]) -> list[Difference]:
    """Differences between two runs' outputs, each given as (line, output text)."""
    comparison = Comparison(recorded)
    for line, text in replayed:
        comparison.add(line, text)
    return comparison.differences()


def render_differences(differences: list[Difference]) -> str:
    """The first MAX_SHOWN differences, readable, and how many more there are."""
    shown = "\n\n".join(difference.render() for difference in differences[:MAX_SHOWN])
    more = len(differences) - MAX_SHOWN
    return shown + (f"\n\n... and {more} more differences" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What came back when the record's inputs were sent again."""

    sent: int
    outputs: list[tuple[str, str]]  # (line, text) in arrival order, this replay's own
    elapsed: float
    differences: list[Difference]
    earlier: int  # outputs left out: no replayed input caused them


def _control(text: str) -> str | None:
    try:
        return read_input(text).control
    except MessageError:
        return None


def _mark_senders(record: TrafficRecord) -> dict[str, str]:
    """A sender ORI for each line that sends: that of its first input with a readable header."""
    senders: dict[str, str] = {}
    for event in record.sent:
        if event.line not in senders:
            try:
                senders[event.line] = read_input(event.text).sender
            except MessageError:
                continue
    for event in record.sent:
        senders.setdefault(event.line, f"{event.line}0000000")
    return senders


async def replay(record: TrafficRecord, target: Target, keys: dict[str, str],
                 speed: float | None, settle: float, timeout: float) -> ReplayResult:
    """Sign on every line of the record, send its inputs with the recorded pacing divided by
    ``speed`` (None: as fast as possible), and collect this replay's own outputs (see
    :class:`OwnOutputs`) until none the record has is missing and ``settle`` seconds pass
    without another, or ``timeout`` seconds after the last input."""
    comparison = Comparison((event.line, event.text) for event in record.received)
    outputs: list[tuple[str, str]] = []
    arrived = asyncio.Event()

    def collect(delivered: Delivered) -> None:
        outputs.append((delivered.line, delivered.text))
        comparison.add(delivered.line, delivered.text)
        arrived.set()

    own = OwnOutputs(collect)
    links = await connect_all(target, keys, own, record.xml_lines)
    start = time.perf_counter()
    sent = 0
    try:
        await own.start(links, _mark_senders(record))
        start = time.perf_counter()
        for event in record.sent:
            if speed is not None:
                delay = start + event.t / speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            own.sent(event.line, _control(event.text))
            links[event.line].send(event.text)
            sent += 1
        deadline = time.perf_counter() + timeout
        while True:
            arrived.clear()
            wait = deadline - time.perf_counter()
            if not comparison.missing:
                wait = min(wait, settle)
            if wait <= 0:
                break
            try:
                async with asyncio.timeout(wait):
                    await arrived.wait()
            except TimeoutError:
                break
    finally:
        await asyncio.gather(*(link.close() for link in links.values()), return_exceptions=True)
    return ReplayResult(sent, outputs, time.perf_counter() - start, comparison.differences(),
                        own.earlier)
