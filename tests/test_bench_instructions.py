"""The instruction count of ``make bench-instructions`` (simulator/bench_instructions.py) read
from a real callgrind profile."""

import subprocess
import sys
from pathlib import Path

from simulator.bench_instructions import self_cost_by_object

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
