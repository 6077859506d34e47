"""Bad input to ``iaqgw`` commands: one line saying what to fix, exit 2 for bad usage and 1
for a job that could not be done, never a traceback (SPEC.md §8, issue 9)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from gateway.cli import app


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``iaqgw ARGS`` in this process."""
    return CliRunner().invoke(app, list(args), env=env)


def one_line(result: Result, code: int) -> str:
    """The one stderr line of a command that stopped with ``code`` and no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception
    )
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("iaqgw: "), lines
    return lines[0]


@pytest.fixture
def broken_journal(tmp_path: Path) -> Path:
    """A data directory whose journal is not an SQLite database."""
    (tmp_path / "journal.sqlite3").write_bytes(b"not a database\n" * 100)
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [["stats"], ["stats", "--json"], ["queue", "list"], ["queue", "answer", "1", "NRF"],
     ["audit"]],
)
def test_a_journal_that_is_no_database(broken_journal: Path, command: list[str]) -> None:
    line = one_line(invoke(*command, "--data-dir", str(broken_journal)), 1)
    assert f"{broken_journal / 'journal.sqlite3'}: file is not a database" in line


@pytest.mark.parametrize("command", [["stats"], ["queue", "list"], ["audit"]])
def test_no_journal(tmp_path: Path, command: list[str]) -> None:
    line = one_line(invoke(*command, "--data-dir", str(tmp_path)), 1)
    assert line == (f"iaqgw: no journal at {tmp_path / 'journal.sqlite3'} "
                    "(has the gateway run with this --data-dir?)")


def test_a_bad_setting_names_the_flag_given() -> None:
    line = one_line(invoke("serve", "--port", "70000"), 2)
    assert line.startswith("iaqgw: --port: ")


def test_a_bad_setting_from_the_environment_names_the_variable() -> None:
    line = one_line(invoke("serve", env={"IAQGW_PORT": "seventy"}), 2)
    assert line.startswith("iaqgw: IAQGW_PORT: ")


def test_a_log_level_that_is_none() -> None:
    line = one_line(invoke("serve", "--port", "0", "--log-level", "loud"), 2)
    assert line == ("iaqgw: --log-level 'loud' is not a log level: debug, info, warning, error "
                    "or critical")


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_replay_of_a_file_that_cannot_be_read(tmp_path: Path, make: str) -> None:
    record = tmp_path / "record.jsonl"
    if make == "directory":
        record.mkdir()
    line = one_line(invoke("replay", str(record)), 2)
    assert str(record) in line


def test_mqtt_config_into_a_file(tmp_path: Path) -> None:
    out = tmp_path / "conf"
    out.write_text("")
    line = one_line(invoke("mqtt-config", "--out", str(out)), 2)
    assert line == f"iaqgw: --out {out} is a file: give a directory"


def test_mqtt_config_with_a_bad_setting_in_the_environment(tmp_path: Path) -> None:
    line = one_line(invoke("mqtt-config", "--out", str(tmp_path),
                           env={"IAQGW_BUS_PASSWORD": "", "IAQGW_PORT": "x"}), 2)
    assert line.startswith("iaqgw: IAQGW_PORT: ")
