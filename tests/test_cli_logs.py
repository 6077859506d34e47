"""``--log-format console`` colours a terminal, never a pipe or a file (issue 9)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest
import structlog
from paths import RECORDS

from gateway.logs import configure_logging, get_logger

ESC = "\x1b["


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the tests' JSON logging back after a test configures its own."""
    yield
    configure_logging("json", os.environ.get("IAQGW_TEST_LOG_LEVEL", "WARNING"))


def log_once(out: TextIO) -> None:
    """Configure console logging on ``out`` and log one warning."""
    configure_logging("console", "INFO", out)
    get_logger().warning("session.slow_reader", line="CA")
    out.flush()


def test_console_into_a_pipe_has_no_colour(restore_logging: None) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as out:
        log_once(out)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    assert "session.slow_reader" in text and "line=CA" in text
    assert ESC not in text


def test_console_on_a_terminal_has_colour(restore_logging: None) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as out:
        log_once(out)
        text = os.read(leader, 4096).decode()
    os.close(leader)
    assert "session.slow_reader" in text
    assert ESC in text


def test_json_lines_go_to_the_stream_given(restore_logging: None, tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as out:
        configure_logging("json", "INFO", out)
        get_logger().info("gateway.started", port=7300)
    assert structlog.is_configured()
    assert '"event":"gateway.started"' in (tmp_path / "log").read_text()


def test_serve_console_log_into_a_pipe(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", "0", "--log-format", "console",
         "--data-dir", str(tmp_path / "data"), "--records", str(RECORDS)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "gateway.started" in line:
                break
        assert any("gateway.started" in line for line in seen), seen
        assert not any(ESC in line for line in seen), seen
    finally:
        proc.terminate()
        proc.wait(20)
