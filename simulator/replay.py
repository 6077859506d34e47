"""``iaqgw replay``: send a record's inputs again and compare the answers with the recorded ones.

Outputs are compared per (receiving line, control field), in arrival order, after the parts
that differ from run to run are masked: output header clocks and sequence numbers, LESC
control numbers, clock times and dates in bodies (docs/simulator.md lists the rules).
"""

import asyncio
import difflib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from formats.errors import MessageError
from formats.output import parse_output
from simulator.record import TrafficRecord
from simulator.switches import Delivered, Target, connect_all

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
QUIET_AFTER_ALL = 0.5
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
    """The comparison key of an output and its text with the run-dependent parts masked."""
    try:
        message = parse_output(text)
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
    before, after = _grouped(recorded), _grouped(replayed)
    keys = list(dict.fromkeys([*before, *after]))
    return [
        Difference(key, before.get(key, []), after.get(key, []))
        for key in keys
        if before.get(key, []) != after.get(key, [])
    ]


def render_differences(differences: list[Difference]) -> str:
    """The first MAX_SHOWN differences, readable, and how many more there are."""
    shown = "\n\n".join(difference.render() for difference in differences[:MAX_SHOWN])
    more = len(differences) - MAX_SHOWN
    return shown + (f"\n\n... and {more} more differences" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What came back when the record's inputs were sent again."""

    sent: int
    outputs: list[tuple[str, str]]  # (line, text) in arrival order
    elapsed: float


async def replay(record: TrafficRecord, target: Target, keys: dict[str, str],
                 speed: float | None, settle: float) -> ReplayResult:
    """Sign on every line of the record, send its inputs with the recorded pacing divided by
    ``speed`` (None: as fast as possible), and collect outputs until ``settle`` seconds pass
    without one (or half a second once as many as recorded have come)."""
    outputs: list[tuple[str, str]] = []
    last_output = [time.perf_counter()]

    def collect(delivered: Delivered) -> None:
        outputs.append((delivered.line, delivered.text))
        last_output[0] = delivered.at

    links = await connect_all(target, keys, collect)
    start = time.perf_counter()
    sent = 0
    try:
        for event in record.sent:
            if speed is not None:
                delay = start + event.t / speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            links[event.line].send(event.text)
            sent += 1
        expected = len(record.received)
        last_output[0] = max(last_output[0], time.perf_counter())
        while True:
            await asyncio.sleep(0.05)
            quiet = time.perf_counter() - last_output[0]
            if quiet >= settle or (len(outputs) >= expected and quiet >= QUIET_AFTER_ALL):
                break
    finally:
        await asyncio.gather(*(link.close() for link in links.values()), return_exceptions=True)
    return ReplayResult(sent, outputs, time.perf_counter() - start)
