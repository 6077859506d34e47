"""`iaqgw tail` on a log captured from a real gateway run (tests/data/gateway-log.jsonl)."""

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from paths import DATA
from typer.testing import CliRunner

from gateway.cli import app
from simulator.tail import follow_lines, parse_since

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
     (["/no/such/log"], "no file")],
)
def test_bad_usage_exits_2(args: list[str], reason: str) -> None:
    code, out = run(*args, stdin="")
    assert code == 2
    assert reason in out


def test_parse_since_ages() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_since("10m", now) == datetime(2026, 1, 1, 11, 50, tzinfo=UTC)
    assert parse_since("2026-01-01T11:00:00", now) == datetime(2026, 1, 1, 11, tzinfo=UTC)


def test_follow_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_bytes(b'{"event":"one"}\n')
    seen: list[bytes] = []
    done = threading.Event()

    def writer() -> None:
        time.sleep(0.3)
        with log.open("ab") as handle:
            handle.write(b'{"event":"two"}\n')
        time.sleep(0.3)
        # Rotation as logrotate does it: rename, then a new file under the old name.
        log.rename(tmp_path / "gateway.log.1")
        log.write_bytes(b'{"event":"three"}\n')
        time.sleep(0.5)
        with log.open("ab") as handle:
            handle.write(b'{"event":"four"}\n')
        time.sleep(0.5)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    for line in follow_lines(log, follow=True, stop=done.is_set):
        seen.append(line)
    thread.join()
    assert [json.loads(line)["event"] for line in seen] == ["one", "two", "three", "four"]


def test_follow_survives_truncation(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_bytes(b'{"event":"old one"}\n{"event":"old two"}\n')
    done = threading.Event()

    def writer() -> None:
        time.sleep(0.3)
        log.write_bytes(b'{"event":"new"}\n')  # copytruncate
        time.sleep(0.6)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = [json.loads(line)["event"] for line in follow_lines(log, True, done.is_set)]
    thread.join()
    assert seen == ["old one", "old two", "new"]
