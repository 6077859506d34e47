"""Run ``iaqgw serve`` as a real child process, for kill and restart tests."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from paths import RECORDS


class GatewayProcess:
    """A gateway child process logging JSON lines to a file."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.log_path = data_dir.parent / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> "GatewayProcess":
        """Start and wait for ``gateway.started``; remembers the port."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        args = ["serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if "--records" not in self.extra and "--synthetic-records" not in self.extra:
            args += ["--records", str(RECORDS)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", *args, *self.extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(offset):
                if event.get("event") == "gateway.started":
                    self.port = int(event["port"])
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError("gateway did not start")

    def events(self, offset: int = 0) -> list[dict[str, object]]:
        """Parsed JSON log lines from ``offset`` on."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().splitlines()
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def wait_for(self, event: str, timeout: float = 20.0) -> list[dict[str, object]]:
        """The events called ``event``, once there is one: log lines are written once per
        event-loop iteration, so one may trail an output the test has already received."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if e.get("event") == event]
            if found:
                return found
            assert time.monotonic() < deadline, f"no {event} from {self.data_dir}"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no chance to flush or say goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def stop(self) -> None:
        """Make sure the process is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``python -m gateway ARGS`` and return (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
