"""Record and replay: the shipped traffic sample replayed against a fresh gateway with --verify,
a record of a default run against gateway processes, and the record file's rules."""

import json
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from gateway_process import GatewayProcess, run_cli
from hypothesis import given
from hypothesis import strategies as st
from messages import am, iaq
from paths import DATA, RECORDS
from typer.testing import CliRunner

from formats.output import parse_output
from gateway.app import Gateway
from gateway.cli import app
from routing.lines import dev_key
from simulator.record import Recorder, RecordError, RecvLine, read_record
from simulator.replay import compare, normalize, parse_speed, render_differences, replay
from simulator.switches import parse_target

SAMPLE = DATA / "traffic-sample.jsonl"



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
    # At the recorded pacing: faster, the technician's answers fall among other inputs than
    # they did, and answers that depend on order (a detainer already lodged) may differ.
    code, out, err = await run_cli(
        "replay", str(SAMPLE), "--target", f"127.0.0.1:{gateway.port}", "--verify",
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
    result = await replay(record, parse_target(f"127.0.0.1:{gateway.port}"), keys, 1.0,
                          settle=1.0, timeout=5.0)
    differences = compare(((e.line, e.text) for e in record.received), result.outputs)
    assert len(differences) == 1
    assert result.differences == differences
    text = render_differences(differences)
    control = normalize(item["line"], item["text"])[0][1]
    assert f"line {item['line']}, control *{control}" in text
    assert "-STS/USC." in text and "+STS/NRF." in text


async def test_replay_waits_for_the_outputs_not_for_a_count(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    # Two inputs: an IAQ whose remark asks for an enhanced response, and an AM to CA.
    inputs = tmp_path / "inputs.jsonl"
    recorder = Recorder(inputs, {"lines": ["CA", "TX"]})
    recorder.send(0.0, "CA", "iaq-c", iaq("CA0564400", control="CA00000001",
                                          rem="PLEASE SEND ENHANCED RESPONSE"))
    recorder.send(0.01, "TX", "am", am("TX0858500", "CA0564400", control="TX00000002"))
    recorder.close(0.02)
    keys = {line: dev_key(line) for line in ("CA", "TX")}
    quick = await start_gateway(technician_delay="fixed", technician_delay_mean=0.05,
                                data_dir=tmp_path / "quick")
    first = await replay(read_record(inputs), parse_target(f"127.0.0.1:{quick.port}"), keys,
                         None, settle=1.0, timeout=5.0)
    assert [parse_output(text).mke for _, text in first.outputs] == ["AM", "IAR", "AM", "IAR"]
    # The record lacks the forwarded AM: as many outputs come back early as it holds, while
    # the enhanced IAR of a slow technician is still to come.
    record = tmp_path / "record.jsonl"
    recorder = Recorder(record, {"lines": ["CA", "TX"]})
    for event in read_record(inputs).sent:
        recorder.send(event.t, event.line, event.kind or "", event.text)
    for seq, (line_code, text) in enumerate(first.outputs, 1):
        if parse_output(text).control != "TX00000002":
            recorder.recv(0.1, line_code, seq, text)
    recorder.close(2.0)
    slow = await start_gateway(technician_delay="fixed", technician_delay_mean=1.5,
                               data_dir=tmp_path / "slow")
    code, out, err = await run_cli("replay", str(record), "--target",
                                   f"127.0.0.1:{slow.port}", "--speed", "max", "--verify")
    assert code == 1
    # Only the forwarded AM differs: the replay waited for the enhanced IAR.
    assert "verify: 1 (line, control) groups differ" in err
    assert "line CA, control *TX00000002 (0 recorded, 1 replayed)" in out


def iaqgw(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway ARGS`` to the end, as a user at a shell would."""
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=90, check=False)


def test_a_default_run_against_make_run_verifies_against_a_fresh_make_run(tmp_path: Path) -> None:
    # `make run` is `data build` then `serve` with the defaults; a small index keeps it quick.
    # The technician's delays are the default's (exponential, mean 3 s, at most 30 s): the
    # seed draws a run with two enhanced responses, so it waits seconds, not half a minute.
    size = ("--synthetic-records", "3000")
    first, fresh = (GatewayProcess(tmp_path / name / "data", *size) for name in ("a", "b"))
    try:
        for gateway in (first, fresh):
            built = iaqgw("data", "build", "--data-dir", str(gateway.data_dir), *size)
            assert built.returncode == 0, built.stderr
            gateway.start()
        record = tmp_path / "traffic.jsonl"
        run = iaqgw("simulate", "--target", f"127.0.0.1:{first.port}", "--data-dir",
                    str(first.data_dir), *size, "--count", "40", "--rate", "40", "--seed", "4",
                    "--record", str(record))
        assert run.returncode == 0, run.stdout + run.stderr
        assert any("\nENH/Y." in event.text for event in read_record(record).received)
        check = iaqgw("replay", str(record), "--target", f"127.0.0.1:{fresh.port}", "--verify")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "verify: all" in check.stdout
    finally:
        first.stop()
        fresh.stop()


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


RUN = b'{"ev":"run","version":1,"lines":["CA"]}\n'
SEND = {"t": 0.5, "ev": "send", "line": "CA", "kind": "am", "text": "AM.CA0000000.TX.TXT\nHI"}
RECV = {"t": 0.7, "ev": "recv", "line": "TX", "seq": 3, "text": "AM.CA0000000\n..."}


def line(item: dict[str, Any], **changes: Any) -> bytes:
    """One record line: ``item`` with ``changes`` (None removes a key)."""
    changed = {**item, **changes}
    return orjson.dumps({k: v for k, v in changed.items() if v is not None}) + b"\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "line 1: the file is empty"),
        (line(SEND), "line 1: a record starts with the run line"),
        (b'{"ev":"run","version":9}\n', "line 1, field version: input should be 1 (got 9)"),
        (RUN + b"not json\n", "line 2: not JSON"),
        (RUN + b"[1, 2]\n", "line 2: not a JSON object"),
        (RUN + b'{"ev":"send","t":1}\n', "line 2, field line: missing"),
        (RUN + line(SEND, ev="sent"), "line 2, field ev: must be one of run, send, recv, end"),
        (RUN + line(SEND, ev=None), "line 2, field ev: must be one of"),
        (RUN + line(SEND, t=-1), "line 2, field t: input should be greater than or equal to 0"),
        (RUN + line(SEND, t="soon"), "line 2, field t: input should be a valid number"),
        (RUN + line(SEND, line="California"), "line 2, field line: string should match"),
        (RUN + line(SEND, text=""), "line 2, field text: string should have at least 1"),
        (RUN + line(SEND, txt="x"), "line 2, field txt: not a field of a send line"),
        (RUN + line(SEND) + line(RECV, seq=0), "line 3, field seq: input should be greater"),
        (RUN + line(SEND) + line(RECV, seq="3"), "line 3, field seq: input should be a valid int"),
        (RUN + line(SEND) + RUN, "line 3: a record has one run line"),
        (RUN + b'{"ev":"end","t":1}\n' + line(SEND), "line 3: nothing may follow the end line"),
        (b'{"ev":"run","version":1,"lines":["CA","x"]}\n', "line 1, field lines.1: string"),
        (b'{"ev":"run","version":1,"lesc_timing":"slow"}\n',
         "line 1, field lesc_timing: input should be 'immediate' or 'realistic'"),
    ],
)
def test_bad_record_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordError) as refused:
        read_record(path)
    assert str(refused.value).startswith(reason), str(refused.value)


def test_cli_names_the_bad_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "traffic.jsonl"
    path.write_bytes(RUN + line(SEND) + line(RECV, seq=-4))
    result = CliRunner().invoke(app, ["replay", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"iaqgw: {path}: line 3, field seq: input should be greater than"
                             " or equal to 1 (got -4)\n")


@given(st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["ev", "t", "line", "seq", "text", "kind", "version",
                                     "lesc_timing"]),
                    st.one_of(st.sampled_from(["run", "send", "recv", "end", "CA", 1, -1,
                                               "immediate", "realistic"]),
                              st.none(), st.booleans(), st.integers(), st.floats(),
                              st.text(max_size=5), st.lists(st.integers(), max_size=2))),
    st.binary(max_size=20).map(lambda raw: raw.replace(b"\n", b" ")),
), max_size=6))
def test_any_record_file_is_read_or_refused_in_one_line(lines: list[Any]) -> None:
    content = b"".join(
        (item if isinstance(item, bytes) else json.dumps(item).encode()) + b"\n"
        for item in lines
    )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "traffic.jsonl"
        path.write_bytes(content)
        try:
            read_record(path)
        except RecordError as exc:
            assert str(exc).startswith("line ") and "\n" not in str(exc)


@given(st.lists(st.tuples(
    st.booleans(),
    st.floats(min_value=0, max_value=1e6),
    st.sampled_from(["CA", "TX", "NY"]),
    st.integers(min_value=1, max_value=10**12),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=40),
), max_size=20))
def test_what_the_recorder_writes_reads_back(events: list[tuple[bool, float, str, int, str]]
                                             ) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "traffic.jsonl"
        recorder = Recorder(path, {"lines": ["CA"], "seed": 3})
        for is_send, t, code, seq, text in events:
            if is_send:
                recorder.send(t, code, "am", text)
            else:
                recorder.recv(t, code, seq, text)
        recorder.close(1.0, sent=len(events))
        record = read_record(path)
    assert record.complete and record.run["seed"] == 3
    assert [
        (e.ev, e.t, e.line, e.seq if isinstance(e, RecvLine) else None, e.text)
        for e in record.events
    ] == [
        ("send" if is_send else "recv", round(t, 6), code, None if is_send else seq, text)
        for is_send, t, code, seq, text in events
    ]


def test_cli_bad_usage_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(SAMPLE), "--speed", "3y"])
    assert result.exit_code == 2 and "--speed" in result.stderr
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and "cannot read" in result.stderr
