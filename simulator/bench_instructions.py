"""``make bench-instructions``: the gateway's instructions per IAQ end to end, by callgrind.

Timed figures on a shared host move by a third from run to run (docs/benchmarks.md); a count
of instructions does not, so a change too small to see in seconds shows here. The gateway
runs under valgrind's callgrind with ``make bench``'s end-to-end load (16 lines x 64 in
flight, two outputs an IAQ); the count is zeroed once the lines are signed on, so key checks
and start-up are left out, and written out when the last IAQ is answered. Each instruction is
counted once, in the program or library it ran in (the interpreter, SQLite, the C library):
what the interpreter's share holds is Python's own work, the others' what it called.

Under callgrind the gateway runs some 50 times slower, so its batches are the largest the
load allows, as at the end-to-end benchmark's full rate; the figure is that run's cost. A
smaller load (``--load 1x1``: one line, one IAQ in flight) counts an IAQ in batches of that
size: what an IAQ arriving alone costs. ``--open-loop-iaqs`` sends the open loop's IAQs (the
simulator's mix, as ``make bench``'s capacity figure for them does) instead of the bench's.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import uvloop

from simulator import count_parts
from simulator.bench import (
    BENCH_INDEX,
    LINES,
    _end_to_end,
    gateway_process,
    open_loop_bodies,
    prepare_load,
)

# The load: IAQs a line in the counted run, and in the warm-up before it.
PER_LINE = 200
WARM_UP = 100
WINDOW = 64
# Sign-ons and idle lines wait for a gateway that runs some 50 times slower.
SLOW_TIMERS = {"IAQGW_SIGNON_TIMEOUT": "900", "IAQGW_IDLE_TIMEOUT": "900",
               "IAQGW_HEARTBEAT_INTERVAL": "800"}
# A name given once as "(id) name" is later written "(id)" alone (callgrind's compression).
_NAME = re.compile(r"\((\d+)\)(?: (.*))?")


@dataclass(frozen=True, slots=True)
class Count:
    """Instructions of one counted run, in all and by the program or library they ran in."""

    iaqs: int
    by_object: dict[str, int]

    @property
    def per_iaq(self) -> float:
        """Instructions an IAQ, in all."""
        return sum(self.by_object.values()) / self.iaqs


def self_cost_by_object(text: str) -> Counter[str]:
    """Each object's own instructions in a callgrind profile (what ran in it, not what it
    called), by the object file's name."""
    names: dict[str, str] = {}
    costs: Counter[str] = Counter()
    current = ""
    call_cost_next = False
    for row in text.splitlines():
        if row.startswith("ob="):
            current = _object_name(row[3:], names)
        elif row.startswith("cob="):
            _object_name(row[4:], names)
        elif row.startswith("calls="):
            # The next cost row is the call's inclusive cost, counted where it ran.
            call_cost_next = True
        elif row[:1].isdigit() or row[:1] in "+-*":
            if call_cost_next:
                call_cost_next = False
            else:
                fields = row.split()
                if len(fields) > 1:
                    costs[current] += int(fields[1])
    return costs


def _object_name(value: str, names: dict[str, str]) -> str:
    match = _NAME.fullmatch(value.strip())
    if match is None:
        return Path(value.strip()).name
    ident, name = match.groups()
    if name is not None:
        names[ident] = Path(name).name
    return names.get(ident, ident)


def count_end_to_end(per_line: int = PER_LINE, parts: Sequence[str] = (),
                     lines: Sequence[str] = LINES, window: int = WINDOW,
                     bodies: Sequence[str] = ()) -> Count:
    """Run the end-to-end load (``lines``, ``window`` IAQs in flight on each; the IAQs with
    ``bodies`` when given, as simulator/bench.py sends them) against a gateway under
    callgrind and count one run of it: all of it, or only what runs inside ``parts``
    (simulator/count_parts.py)."""
    work = Path(tempfile.mkdtemp(prefix="iaqgw-callgrind-"))
    out = work / "callgrind.out"
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    env = dict(SLOW_TIMERS)
    if parts:
        valgrind.append("--collect-atstart=no")
        env.update(count_parts.prepare(work, parts))
    try:
        with gateway_process(under=valgrind, env=env) as gateway:
            uvloop.run(_end_to_end(gateway.port, WARM_UP, window, lines=lines, bodies=bodies))

            def zero() -> None:
                _control("--zero", gateway.pid)

            uvloop.run(_end_to_end(gateway.port, per_line, window, signed_on=zero,
                                   lines=lines, bodies=bodies))
            _control("--dump", gateway.pid)
            dump = _wait_for(out.with_name(out.name + ".1"))
        return Count(per_line * len(lines), dict(self_cost_by_object(dump)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _control(action: str, pid: int) -> None:
    subprocess.run(["callgrind_control", action, str(pid)], check=True, capture_output=True)


def _wait_for(path: Path, seconds: float = 120) -> str:
    """The text of a callgrind dump once it is whole (its last row is ``totals:``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text()
            if "\ntotals:" in text:
                return text
        time.sleep(0.5)
    raise TimeoutError(f"callgrind wrote no dump to {path}")


def load(text: str) -> tuple[int, int]:
    """``LINESxWINDOW`` (``16x64``): how many lines, and IAQs in flight on each."""
    count, _, window = text.partition("x")
    if not (text.isascii() and count.isdigit() and window.isdigit()
            and 1 <= int(count) <= len(LINES) and int(window) >= 1):
        raise argparse.ArgumentTypeError(
            f"{text!r}: write LINESxWINDOW, 1 to {len(LINES)} lines and 1 or more in flight"
        )
    return int(count), int(window)


def main() -> None:
    """Count the end-to-end run and print its instructions an IAQ, by object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--part", action="append", default=[], metavar="MODULE:NAME",
                        help="count only inside this function (gateway.switch:Switch._store);"
                             " repeat for several, counted together")
    parser.add_argument("--load", type=load, default=(len(LINES), WINDOW),
                        metavar="LINESxWINDOW",
                        help=f"lines and IAQs in flight on each (default {len(LINES)}x{WINDOW};"
                             " 1x1: an IAQ arriving alone)")
    parser.add_argument("--open-loop-iaqs", action="store_true",
                        help="send the open loop's IAQs (the simulator's mix) instead of the"
                             " bench's")
    arguments = parser.parse_args()
    parts = arguments.part
    count_lines, window = arguments.load
    lines = LINES[:count_lines]
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
        sys.exit(2)
    prepare_load()
    bodies = open_loop_bodies(BENCH_INDEX) if arguments.open_loop_iaqs else ()
    count = count_end_to_end(parts=parts, lines=lines, window=window, bodies=bodies)
    inside = f" inside {', '.join(parts)}" if parts else ""
    which = "the open loop's IAQs, " if bodies else ""
    print(f"gateway instructions an IAQ{inside}, end to end ({which}{count.iaqs:,} IAQs, "
          f"{len(lines)} line{'s' if len(lines) > 1 else ''} x {window} in flight): "
          f"{count.per_iaq:,.0f}")
    total = sum(count.by_object.values())
    for name, cost in sorted(count.by_object.items(), key=lambda item: -item[1]):
        if cost * 1000 >= total:
            print(f"  {cost / count.iaqs:10,.0f}  {cost / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
