"""The instruction count of ``make bench-instructions`` (simulator/bench_instructions.py) read
from a real callgrind profile, and its count of chosen parts (simulator/count_parts.py)."""

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from simulator.bench import LINES
from simulator.bench_instructions import load, self_cost_by_object
from simulator.count_parts import prepare

# Enough SQLite work to stand out beside the interpreter's start-up.
PROGRAM = (
    "import sqlite3\n"
    "db = sqlite3.connect(':memory:')\n"
    "db.execute('CREATE TABLE t (n INTEGER)')\n"
    "db.executemany('INSERT INTO t VALUES (?)', ((n,) for n in range(20000)))\n"
)


def test_each_instruction_is_counted_once_in_the_object_it_ran_in(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         "-c", PROGRAM],
        check=True, capture_output=True,
    )
    text = out.read_text()
    costs = self_cost_by_object(text)
    totals = next(int(row.split()[1]) for row in text.splitlines() if row.startswith("totals:"))
    # Calls' inclusive costs are not counted again: the objects add up to the whole run.
    assert sum(costs.values()) == totals
    sqlite = sum(cost for name, cost in costs.items() if name.startswith("libsqlite3"))
    # The interpreter's own file, or libpython in a build with --enable-shared.
    interpreter = max(cost for name, cost in costs.items() if "python3" in name)
    assert 0 < sqlite < interpreter
    # Every name is an object file's, not callgrind's "(id)" shorthand.
    assert not any(name.startswith("(") for name in costs)


# A part whose work is in a part it calls: the nested part must not turn the count off.
WORK = (
    "import sqlite3\n"
    "def inner():\n"
    "    db = sqlite3.connect(':memory:')\n"
    "    db.execute('CREATE TABLE t (n INTEGER)')\n"
    "    db.executemany('INSERT INTO t VALUES (?)', ((n,) for n in range(20000)))\n"
    "def outer():\n"
    "    inner()\n"
    "def elsewhere():\n"
    "    return sorted(str(n) for n in range(20000))\n"
)


def counted(directory: Path, *parts: str) -> Counter[str]:
    """Instructions by object of ``work.outer(); work.elsewhere()``, inside ``parts`` only."""
    directory.mkdir()
    (directory / "work.py").write_text(WORK)
    env = {**os.environ, **prepare(directory, parts)}
    env["PYTHONPATH"] += os.pathsep + str(directory)
    out = directory / "callgrind.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--callgrind-out-file={out}",
         sys.executable, "-c", "import work; work.outer(); work.elsewhere()"],
        check=True, capture_output=True, env=env,
    )
    return self_cost_by_object(out.read_text())


def test_only_the_parts_are_counted(tmp_path: Path) -> None:
    outer = counted(tmp_path / "outer", "work:outer", "work:inner")
    elsewhere = counted(tmp_path / "elsewhere", "work:elsewhere")
    sqlite = "libsqlite3"
    # The SQLite work runs in the nested part: counted, 20,000 inserts' worth (tens of millions;
    # the connection closed at exit, outside any part, is some thousands).
    assert sum(cost for name, cost in outer.items() if name.startswith(sqlite)) > 10_000_000
    assert not any(name.startswith(sqlite) for name in elsewhere)
    # Start-up (hundreds of millions of instructions) is not in either.
    assert 0 < sum(elsewhere.values()) < 100_000_000


def test_a_load_names_lines_and_iaqs_in_flight() -> None:
    assert load("1x1") == (1, 1)
    assert load(f"{len(LINES)}x64") == (len(LINES), 64)


@pytest.mark.parametrize("text", ["", "1", "x1", "1x", "0x1", "1x0", f"{len(LINES) + 1}x1",
                                  "1x1x1", "-1x1", "1 x 1", "\u0661x1"])
def test_a_load_the_bench_cannot_run_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="LINESxWINDOW"):
        load(text)
