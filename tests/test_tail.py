"""`iaqgw tail` on a log captured from a real gateway run (tests/data/gateway-log.jsonl)."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paths import DATA
from typer.testing import CliRunner

from gateway.cli import app
from simulator.tail import follow_lines

LOG = DATA / "gateway-log.jsonl"
ENTRIES = [json.loads(line) for line in LOG.read_text().splitlines()]


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run ``iaqgw tail ARGS``; returns (exit code, output)."""
    result = CliRunner().invoke(app, ["tail", *args], input=stdin)
    return result.exit_code, result.output


def json_lines(*args: str) -> list[dict[str, object]]:
    """The entries ``tail --json`` lets through."""
    code, out = run(str(LOG), "--json", *args)
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines()]


def test_json_passes_matching_lines_through_unchanged() -> None:
    code, out = run(str(LOG), "--json", "--event", "message.rejected")
    assert code == 0
    originals = [line for line in LOG.read_text().splitlines() if '"message.rejected"' in line]
    assert out.splitlines() == originals
    assert len(originals) == 9


def test_filter_by_mke_and_ori_glob() -> None:
    found = json_lines("--mke", "qw", "--ori", "TX*")
    assert found
    assert all(e["mke"] == "QW" and str(e["ori"]).startswith("TX") for e in found)
    expected = [e for e in ENTRIES if (e.get("mke") == "QW" and str(e.get("ori", "")).startswith(
        "TX")) or (e.get("mke") == "QW" and str(e.get("dest", "")).startswith("TX"))]
    assert len(found) == len(expected)


def test_ori_glob_also_matches_the_destination() -> None:
    found = json_lines("--ori", "CA0810200")
    assert {e["event"] for e in found} == {"message.accepted", "message.delivered"}


def test_filter_by_level_is_a_minimum() -> None:
    assert [e["event"] for e in json_lines("--level", "warning")] == ["config.dev_keys"]
    assert len(json_lines("--level", "info")) == len(ENTRIES)


def test_filter_since() -> None:
    cut = "2026-11-23T05:55:53.5"
    found = json_lines("--since", cut)
    assert found and len(found) < len(ENTRIES)
    assert all(str(e["ts"]) >= cut for e in found)


def test_columns_are_aligned() -> None:
    code, out = run(str(LOG), "--event", "message.*", "--mke", "IAQ")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["time", "level", "event", "line", "ori"]
    rejected = next(line for line in lines if "message.rejected" in line)
    assert ".14." in rejected and "FIELD OFF/ MISSING" in rejected
    # The ORI column starts at the same place on every line.
    starts = {line.index("CA0") for line in lines[1:] if " CA0" in line[40:60]}
    assert len(starts) == 1


def test_reads_stdin() -> None:
    code, out = run("--event", "session.signon", stdin=LOG.read_text())
    assert code == 0
    rows = out.splitlines()[1:]
    assert len(rows) == 2
    assert "CA" in rows[0] and "TX" in rows[1]


@pytest.mark.parametrize(
    ("args", "reason"),
    [(["--level", "loud"], "--level"), (["--since", "yesterday"], "--since"),
     (["/no/such/log"], "/no/such/log: no such file")],
)
def test_bad_usage_exits_2(args: list[str], reason: str) -> None:
    code, out = run(*args, stdin="")
    assert code == 2
    assert reason in out


@pytest.mark.parametrize("follow", [[], ["--follow"]])
def test_a_directory_is_no_log(tmp_path: Path, follow: list[str]) -> None:
    result = CliRunner().invoke(app, ["tail", str(tmp_path), *follow])
    assert result.exit_code == 2
    assert result.stderr == f"iaqgw: {tmp_path} is a directory: give a file\n"


def test_long_values_are_not_cut() -> None:
    entry = {"ts": "2026-11-23T05:55:53.123456Z", "level": "critical",
             "event": "security.signon_rejected", "line": "CA", "ori": "CA0000000",
             "mke": "IAQ", "in_seq": 1234567, "out_seq": 7654321, "latency_ms": 123456.5}
    code, out = run(stdin=json.dumps(entry) + "\n")
    assert code == 0
    header, row = out.splitlines()
    for value in ("critical", "security.signon_rejected", "in1234567 out7654321", "123456.50ms"):
        assert f" {value} " in row
    # A name as long as the longest the gateway logs keeps the columns after it in place.
    assert row.index("CA0000000") == header.index("ori")


def test_since_reads_zones() -> None:
    # 00:55:53.5 in New York is 05:55:53.5 UTC.
    assert json_lines("--since", "2026-11-23T00:55:53.5-05:00") == json_lines(
        "--since", "2026-11-23T05:55:53.5Z")
    found = json_lines("--since", "2026-11-23T00:55:53.5-05:00")
    assert found and len(found) < len(ENTRIES)


def script(log: Path, *steps: Callable[[], object]) -> Callable[[], bool]:
    """An idle callback for follow_lines: each time the reader has caught up, the next step
    changes the log; after the last, following stops. No waiting for time to pass."""
    pending = iter(steps)

    def idle() -> bool:
        step = next(pending, None)
        if step is None:
            return False
        step()
        return True

    return idle


def append(log: Path, line: bytes) -> Callable[[], None]:
    """A step that appends a line to the log."""
    def write() -> None:
        with log.open("ab") as handle:
            handle.write(line)
    return write


def events(lines: Iterator[bytes]) -> list[str]:
    """The events of the lines read."""
    return [json.loads(line)["event"] for line in lines]


def test_follow_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_bytes(b'{"event":"one"}\n')

    def rotate() -> None:
        # As logrotate does it: rename, then a new file under the old name.
        log.rename(tmp_path / "gateway.log.1")
        log.write_bytes(b'{"event":"three"}\n')

    idle = script(log, append(log, b'{"event":"two"}\n'), rotate,
                  append(log, b'{"event":"four"}\n'))
    assert events(follow_lines(log, True, idle)) == ["one", "two", "three", "four"]


def test_follow_survives_truncation(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_bytes(b'{"event":"old one"}\n{"event":"old two"}\n')
    idle = script(log, lambda: log.write_bytes(b'{"event":"new"}\n'))  # copytruncate
    assert events(follow_lines(log, True, idle)) == ["old one", "old two", "new"]


def test_follow_waits_for_the_file_and_for_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    idle = script(log, lambda: log.write_bytes(b'{"event":"fir'), append(log, b'st"}\n'),
                  append(log, b'{"event":"second"}\n'))
    assert events(follow_lines(log, True, idle)) == ["first", "second"]


def test_without_follow_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(follow_lines(tmp_path / "none.log", False))
