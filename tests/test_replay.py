"""Record and replay: the shipped traffic sample replayed against a fresh gateway with --verify."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from paths import DATA, RECORDS

from gateway.app import Gateway
from routing.lines import dev_key
from simulator.record import Recorder, RecordError, read_record
from simulator.replay import compare, normalize, parse_speed, render_differences, replay
from simulator.switches import parse_target

SAMPLE = DATA / "traffic-sample.jsonl"


async def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``python -m gateway ARGS``; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_sample_is_a_few_hundred_messages_of_every_kind() -> None:
    record = read_record(SAMPLE)
    assert record.complete
    assert 200 <= len(record.sent) <= 1000
    kinds = {event.kind for event in record.sent}
    assert {"iaq-c", "iaq-f", "qw", "am", "bad"} <= kinds
    assert record.run["records"] == RECORDS.name


@pytest.fixture
async def gateway(start_gateway: Callable[..., Awaitable[Gateway]]) -> Gateway:
    """A fresh gateway whose simulated technician answers in 50 ms."""
    return await start_gateway(technician_delay="fixed", technician_delay_mean=0.05)


async def test_sample_replays_with_verify_against_a_fresh_gateway(gateway: Gateway) -> None:
    code, out, err = await run_cli(
        "replay", str(SAMPLE), "--target", f"127.0.0.1:{gateway.port}", "--speed", "max",
        "--verify", "--settle", "3",
    )
    assert code == 0, out + err
    assert "verify: all" in out


async def test_a_changed_answer_fails_verify_with_a_readable_diff(
    gateway: Gateway, tmp_path: Path
) -> None:
    lines = SAMPLE.read_bytes().splitlines()
    changed = tmp_path / "changed.jsonl"
    # Pretend the recorded run had answered one IAQ with another status.
    target = next(i for i, raw in enumerate(lines) if b"\\nSTS/NRF." in raw)
    item = orjson.loads(lines[target])
    item["text"] = item["text"].replace("\nSTS/NRF.", "\nSTS/USC.")
    lines[target] = orjson.dumps(item)
    changed.write_bytes(b"\n".join(lines) + b"\n")
    record = read_record(changed)
    keys = {line: dev_key(line) for line in record.lines}
    result = await replay(record, parse_target(f"127.0.0.1:{gateway.port}"), keys, None, 3.0)
    differences = compare(((e.line, e.text) for e in record.received), result.outputs)
    assert len(differences) == 1
    text = render_differences(differences)
    control = normalize(item["line"], item["text"])[0][1]
    assert f"line {item['line']}, control *{control}" in text
    assert "-STS/USC." in text and "+STS/NRF." in text


def test_clocks_sequence_and_control_numbers_are_ignored() -> None:
    first = ("IAR.VTINS07S0\n05:56 11/23/2026 00001\n05:56 11/23/2026 00002 CA0564400 *C1\n"
             "TXT\nNAM/LOPEZ, CARLOS.\nLCN/0000000001.\nSTS/REM.")
    second = ("IAR.VTINS07S0\n23:10 12/01/2027 00417\n23:11 12/01/2027 99999 CA0564400 *C1\n"
              "TXT\nNAM/LOPEZ, CARLOS.\nLCN/0000004711.\nSTS/REM.")
    assert compare([("CA", first)], [("CA", second)]) == []
    assert compare([("CA", first)], [("TX", second)]) != []
    assert compare([("CA", first)], [("CA", second.replace("REM", "LPR"))]) != []


def test_missing_and_extra_outputs_are_differences() -> None:
    one = "AM.VTINS07S0\n05:56 11/23/2026 00001\n05:56 11/23/2026 00001 CA0000000 *X\nTXT\nHI"
    assert len(compare([("CA", one)], [])) == 1
    assert len(compare([], [("CA", one)])) == 1
    assert len(compare([("CA", one)], [("CA", one), ("CA", one)])) == 1


@pytest.mark.parametrize(("text", "speed"), [("1x", 1.0), ("10x", 10.0), ("2.5x", 2.5),
                                             ("max", None)])
def test_speeds(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0x", "10", "fast", "-1x", "infx", "nanx"])
def test_bad_speeds(text: str) -> None:
    with pytest.raises(ValueError, match="--speed"):
        parse_speed(text)


def test_record_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    recorder = Recorder(path, {"lines": ["CA"], "seed": 1})
    recorder.send(0.5, "CA", "am", "AM.CA0000000.TX.TXT\nHELLO")
    recorder.recv(0.75, "TX", 3, "AM.CA0000000\n...")
    recorder.close(1.0, sent=1)
    record = read_record(path)
    assert record.complete and record.run["seed"] == 1
    assert [(e.ev, e.line, e.t) for e in record.events] == [("send", "CA", 0.5),
                                                            ("recv", "TX", 0.75)]
    assert record.received[0].seq == 3
    assert record.lines == ["CA", "TX"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "line 1"), (b'{"ev":"send"}\n', "line 1"), (b'{"ev":"run","version":9}\n', "version"),
     (b'{"ev":"run","version":1}\nnot json\n', "line 2: not JSON"),
     (b'{"ev":"run","version":1}\n{"ev":"send","t":1}\n', "line 2: missing")],
)
def test_bad_record_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordError, match=reason):
        read_record(path)


async def test_cli_bad_usage_exits_2(tmp_path: Path) -> None:
    code, _, err = await run_cli("replay", str(SAMPLE), "--speed", "3y")
    assert code == 2 and "--speed" in err
    code, _, err = await run_cli("replay", str(tmp_path / "none.jsonl"))
    assert code == 2 and "cannot read" in err
