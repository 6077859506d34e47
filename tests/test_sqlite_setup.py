"""SQLite's process-wide configuration for the gateway's process (gateway/sqlite_setup.py).

Each case runs in a fresh interpreter: the configuration is the process's, and SQLite takes
it only before any connection is open (this test process has some)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.sqlite_setup import KEEP_DEFAULTS

# Configures SQLite, then journals inputs while the WAL checkpointer copies them from its own
# thread and connection, as a serving gateway does; prints what it found.
_SCRIPT = """
import ctypes, _sqlite3, json, sqlite3, sys
from datetime import UTC, datetime
from pathlib import Path
from gateway.journal import Journal
from gateway.sqlite_setup import configure_sqlite

configured = configure_sqlite()
journal = Journal(Path(sys.argv[1]))
journal.checkpoint_apart(None, interval=0.001)
for n in range(200):
    journal.record_lines(datetime.now(UTC), [("CA", [(f"IAQ {n} " + "X" * 500, None)] * 10)])
journal.close()
library = ctypes.PyDLL(_sqlite3.__file__)
library.sqlite3_memory_used.restype = ctypes.c_int64
journal = Journal(Path(sys.argv[1]))
check = sqlite3.connect(sys.argv[1])
print(json.dumps({
    "configured": configured,
    "counted_bytes": library.sqlite3_memory_used(),
    "inputs": len(journal.unprocessed_inputs()),
    "integrity": check.execute("PRAGMA integrity_check").fetchone()[0],
}))
"""


def _run(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    """Run the script in a fresh interpreter with exactly the environment ``env``."""
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "journal.sqlite3")],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_a_fresh_process_turns_the_counting_off_and_journals_as_before(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != KEEP_DEFAULTS}
    found = _run(tmp_path, env)
    assert found == {"configured": True, "counted_bytes": 0, "inputs": 2000,
                     "integrity": "ok"}


def test_the_defaults_stay_when_asked(tmp_path: Path) -> None:
    found = _run(tmp_path, {**os.environ, KEEP_DEFAULTS: "1"})
    assert found["configured"] is False
    # SQLite counts what it holds: the configuration did not happen.
    assert isinstance(found["counted_bytes"], int) and found["counted_bytes"] > 0
    assert found["inputs"] == 2000 and found["integrity"] == "ok"
