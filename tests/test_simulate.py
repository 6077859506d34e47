"""`iaqgw simulate` against a real gateway on loopback, and its checks against a faulty peer."""

import asyncio
import gc
import inspect
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest
from gateway_process import run_cli
from paths import RECORDS
from typer.testing import CliRunner

from formats.control import SignOn, format_signon_ok, parse_control
from formats.framing import FrameDecoder, encode_frame
from formats.message import format_input, parse_fields, parse_input
from formats.output import OutputMessage, format_output, parse_output
from gateway.app import Gateway
from gateway.cli import app
from gateway.datafiles import load_oris
from responders.lesc.settings import LescSettings
from routing.lines import dev_key
from simulator import cli as cli_tools
from simulator.client import LineClient
from simulator.defaults import TECHNICIAN_DELAY_MAX, default_drain
from simulator.record import read_record
from simulator.report import ENHANCED
from simulator.simulate import ANNOUNCES_ENHANCED, Simulation, SimulationOptions
from simulator.switches import parse_target
from simulator.traffic import (
    TrafficData,
    TrafficGenerator,
    parse_mix,
    subjects_from_csv,
    traffic_data,
)

LINES = ["CA", "TX", "NY", "FL"]


def data_for(lines: list[str]) -> TrafficData:
    """Traffic drawn from the test records and the default ORI registry."""
    return traffic_data(subjects_from_csv(RECORDS), load_oris(None), lines)


def options(port: int, lines: list[str] = LINES, **overrides: object) -> SimulationOptions:
    """Simulation options for a loopback target; every line signs on with its dev key."""
    values: dict[str, object] = {
        "target": parse_target(f"127.0.0.1:{port}"),
        "keys": {line: dev_key(line) for line in lines},
        "rate": 400.0,
        "count": 300,
        "mix": parse_mix("iaq=60,qw=20,am=12,bad=8"),
        "seed": 7,
        "drain": 3.0,
    }
    values.update(overrides)
    return SimulationOptions(**values)


def status_counts(path: Path) -> Counter[str]:
    """STS/ values of the IAR answers in a record."""
    found: Counter[str] = Counter()
    for event in read_record(path).received:
        for line in event.text.splitlines():
            if line.startswith("STS/") and "\nENH/Y" not in event.text:
                found[line[4:-1]] += 1
    return found


FAST_TECHNICIAN = {"technician_delay": "fixed", "technician_delay_mean": 0.05}


@pytest.fixture
async def gateway(start_gateway: Callable[..., Awaitable[Gateway]]) -> Gateway:
    """A gateway whose simulated technician answers in 50 ms, so runs drain at once."""
    return await start_gateway(**FAST_TECHNICIAN)


async def test_mix_is_answered_with_hits_misses_and_multiple_matches(
    gateway: Gateway, tmp_path: Path
) -> None:
    record = tmp_path / "run.jsonl"
    simulation = Simulation(options(gateway.port, record=record), data_for(LINES))
    report = await simulation.run()
    assert report.violations == {}, report.examples
    assert report.scheduled == 300
    assert report.answered == report.sent
    # Each input of the mix has its lateness against its schedule (the YQs are not scheduled).
    assert report.pacing.latency.get_total_count() == 300
    for kind in ("iaq-c", "iaq-f", "qw", "am", "bad"):
        assert report.kinds[kind].sent > 0, kind
        assert report.kinds[kind].percentile_ms(99) is not None
    # Every fault the mix sends has its own ER number.
    assert {".05.", ".14.", ".19.", ".22."} <= set(report.errors_by_code)
    statuses = status_counts(record)
    assert statuses["NRF"] > 0 and statuses["MLT"] > 0
    assert sum(statuses[s] for s in ("USC", "LPR", "NIV", "OOS", "REM")) > 0
    # QW hits are confirmed with a YQ; the technician answers the enhanced responses.
    assert report.kinds["yq"].sent > 0
    assert report.yr_status["CONFIRMED"] > 0
    assert report.kinds["iaq-enh"].answered == report.kinds["iaq-enh"].sent > 0
    assert simulation.unsettled == 0


class FreezeSeen(Simulation):
    """A simulation that notes how many objects the collector holds frozen while it sends."""

    frozen_while_sending = 0

    async def _schedule(self) -> None:
        self.frozen_while_sending = gc.get_freeze_count()
        await super()._schedule()


async def test_the_run_keeps_its_data_out_of_collections_while_sending_only(
    gateway: Gateway,
) -> None:
    # A full collection over the traffic data paused the simulator, and the gateway's
    # latencies carried the pause; the run unfreezes what it froze.
    assert gc.get_freeze_count() == 0
    simulation = FreezeSeen(options(gateway.port, count=20), data_for(LINES))
    report = await simulation.run()
    assert report.scheduled == 20
    assert report.answered == report.sent
    assert simulation.frozen_while_sending > 0
    assert gc.get_freeze_count() == 0


class FullCollectionsSeen(Simulation):
    """A simulation that counts the collector's full collections while it sends."""

    full_while_sending = -1
    young_while_sending = -1

    async def _schedule(self) -> None:
        before = gc.get_stats()
        await super()._schedule()
        after = gc.get_stats()
        self.full_while_sending = after[2]["collections"] - before[2]["collections"]
        self.young_while_sending = after[0]["collections"] - before[0]["collections"]


async def test_the_run_has_no_full_collection_while_sending(gateway: Gateway) -> None:
    # One came 3.5 s into the bench's latency run and held the simulator 8 to 10 ms, which its
    # latencies carried. Young collections go on, and the thresholds come back after the run.
    thresholds = gc.get_threshold()
    # What the test process holds kept out, so that a full collection needs only what the
    # run makes (CPython waits for the old generation to grow by a quarter), and one after
    # every second young collection as far as the thresholds go.
    gc.freeze()
    gc.collect()
    gc.set_threshold(10, 1, 1)
    try:
        simulation = FullCollectionsSeen(options(gateway.port, count=200), data_for(LINES))
        report = await simulation.run()
        assert gc.get_threshold() == (10, 1, 1)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    assert report.scheduled == 200
    assert simulation.young_while_sending > 0
    assert simulation.full_while_sending == 0


async def test_slow_hit_confirmation_is_asked_again_and_answered_pending(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    # The technician takes a second over a partial match; the switch asks again at 0.25 s.
    gateway = await start_gateway(technician_delay="fixed", technician_delay_mean=1.0)
    record = tmp_path / "yq.jsonl"
    simulation = Simulation(
        options(gateway.port, ["CA", "TX"], count=40, rate=100.0, mix=parse_mix("qw=1"),
                seed=3, yq_timeout=0.25, drain=5.0, record=record),
        data_for(["CA", "TX"]),
    )
    report = await simulation.run()
    assert report.violations == {}, report.examples
    sent = [e.text for e in read_record(record).sent if e.kind == "yq"]
    numbers = Counter(parse_fields(parse_input(text).body)["RNO"] for text in sent)
    assert numbers["2"] > 0 and numbers["3"] == numbers["2"]
    # RNO/2 and RNO/3 for the open request are answered at once with PENDING ...
    assert report.yr_status["PENDING"] == numbers["2"] + numbers["3"]
    # ... and every request still gets its final YR from the technician.
    assert "(no final YR)" not in report.yr_status
    assert simulation.unsettled == 0


def test_defaults_outlast_the_gateways_technician() -> None:
    # The gateway's default technician answers within technician_delay_max: a run with the
    # defaults waits for that, and asks again for a hit confirmation only after it.
    slowest = LescSettings.model_fields["technician_delay_max"].default
    assert slowest == TECHNICIAN_DELAY_MAX
    defaults = SimulationOptions(parse_target("127.0.0.1:7300"), {}, 1.0, 1, {"iaq": 1.0}, 1)
    for drain, yq_timeout in ((defaults.drain, defaults.yq_timeout),
                              (default_drain("immediate"),
                               inspect.signature(cli_tools.simulate)
                               .parameters["yq_timeout"].default)):
        assert drain > slowest
        assert yq_timeout > slowest


def announced(path: Path) -> tuple[set[tuple[str, str | None]], set[tuple[str, str | None]]]:
    """(dest, control) of the IARs in a record that announce an enhanced response, and of the
    enhanced IARs."""
    announcing, enhanced = set(), set()
    for event in read_record(path).received:
        message = parse_output(event.text)
        if message.mke != "IAR":
            continue
        if "\nENH/Y." in f"\n{message.body}":
            enhanced.add((message.dest, message.control))
        elif ANNOUNCES_ENHANCED in message.body:
            announcing.add((message.dest, message.control))
    return announcing, enhanced


async def test_every_announced_enhanced_response_is_waited_for_and_recorded(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    # The technician takes half a second: longer than every first answer of the run.
    gateway = await start_gateway(technician_delay="fixed", technician_delay_mean=0.5)
    record = tmp_path / "enhanced.jsonl"
    simulation = Simulation(
        options(gateway.port, ["CA", "TX"], count=150, mix=parse_mix("iaq=1"), seed=5,
                drain=5.0, record=record),
        data_for(["CA", "TX"]),
    )
    report = await simulation.run()
    assert report.violations == {}, report.examples
    announcing, enhanced = announced(record)
    assert announcing == enhanced
    assert report.kinds[ENHANCED].answered == report.kinds[ENHANCED].sent == len(enhanced)
    # Every reason the LESC gives one is in the run: several records, a firearms check that
    # needs a technician, and a remark that asks for one.
    sent = {parse_input(event.text).control: event.text for event in read_record(record).sent}
    why = [sent[control] for _, control in announcing if control in sent]
    assert any("PUR/F." in text for text in why)
    assert any("REM/" in text and "PUR/C." in text for text in why)
    assert status_counts(record)["MLT"] > 0


async def test_same_seed_same_traffic() -> None:
    data = data_for(LINES)
    mix = parse_mix("iaq=50,qw=20,am=20,bad=10")
    first, again, other = (TrafficGenerator(data, mix, LINES, seed) for seed in (11, 11, 12))
    first = [first.next() for _ in range(200)]
    again = [again.next() for _ in range(200)]
    other = [other.next() for _ in range(200)]
    assert [p.text for p in first] == [p.text for p in again]
    assert [p.text for p in first] != [p.text for p in other]
    assert len({p.control for p in first}) == 200


@pytest.mark.parametrize(
    ("mix", "reason"),
    [("iaq=1,zz=2", "KIND=WEIGHT"), ("iaq=x", "number"), ("iaq=0", "above 0"),
     ("iaq=-1", "negative")],
)
def test_bad_mix_is_refused(mix: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_mix(mix)



async def test_cli_runs_and_prints_json_summary(gateway: Gateway, tmp_path: Path) -> None:
    record = tmp_path / "cli.jsonl"
    code, out, err = await run_cli(
        "simulate", "--target", f"127.0.0.1:{gateway.port}", "--records", str(RECORDS),
        "--lines", "CA,TX", "--rate", "200", "--count", "60", "--seed", "5", "--json",
        "--record", str(record), "--drain", "2",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["seed"] == 5
    assert summary["sent"] >= 60 and summary["answered"] == summary["sent"]
    late = summary["sent_late_ms"]
    assert 0 <= late["p50"] <= late["p99"] <= late["max"]
    recorded = read_record(record)
    assert recorded.complete and recorded.run["lines"] == ["CA", "TX"]
    assert len([e for e in recorded.sent if e.kind != "yq"]) == 60


async def test_progress_bar_and_summary_agree(gateway: Gateway) -> None:
    # QW hits are followed by YQs, which the summary counts as sent: so does the bar.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "simulate", "--target", f"127.0.0.1:{gateway.port}",
        "--records", str(RECORDS), "--lines", "CA,TX", "--rate", "200", "--count", "60",
        "--seed", "5", "--mix", "iaq=50,qw=50", "--drain", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode() + err.decode()
    summary = out.decode().splitlines()[1]
    counts = summary.split(";")[0]
    sent = int(counts.split(" sent")[0])
    assert sent > 60
    assert "the mix: 60 inputs" in summary
    bar = [line for line in err.decode().splitlines() if line.startswith("done")][-1]
    assert counts in bar and "60/60" in bar


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate`` holds (the gateway's state, read in this event loop)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_record_holds_only_the_runs_own_traffic(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    gateway = await start_gateway(technician_delay="fixed", technician_delay_mean=1.5)
    lines = ["CA", "TX"]
    run = {"count": 40, "rate": 40.0, "mix": parse_mix("iaq=1"), "seed": 9}
    # An earlier run with the same seed, so the same control fields, leaves before the
    # technician answers: its enhanced responses come while the next run is under way.
    earlier = await Simulation(options(gateway.port, lines, drain=0.0, **run),
                               data_for(lines)).run()
    assert earlier.kinds[ENHANCED].sent > 0
    # And an AM with one of those control fields waits for CA in the journal.
    ny = await LineClient.connect("127.0.0.1", gateway.port, "NY")
    sender = data_for(["NY"]).agencies["NY"][0]
    await ny.send(format_input("AM", sender, ["CA"], "STORED BEFORE THE RUN", "CA00000003"))
    await until(lambda: gateway.journal.last_out("CA") > gateway.journal.last_ack("CA"))
    await ny.close()
    record = tmp_path / "own.jsonl"
    report = await Simulation(options(gateway.port, lines, drain=5.0, record=record, **run),
                              data_for(lines)).run()
    assert report.violations == {}, report.examples
    assert report.earlier > earlier.kinds[ENHANCED].sent
    sent: set[str | None] = set()
    for event in read_record(record).events:
        if event.ev == "send":
            sent.add(parse_input(event.text).control)
        else:
            assert parse_output(event.text).control in sent, event.text
            assert "STORED BEFORE THE RUN" not in event.text
    announcing, enhanced = announced(record)
    assert announcing == enhanced
    # One enhanced IAR per announcement: the earlier run's for the same control are not in.
    enhanced_iars = [e for e in read_record(record).received if "\nENH/Y." in e.text]
    assert len(enhanced_iars) == len(enhanced) == report.kinds[ENHANCED].answered
    assert report.kinds[ENHANCED].answered == report.kinds[ENHANCED].sent


async def test_cli_table_output(gateway: Gateway) -> None:
    code, out, _ = await run_cli(
        "simulate", "--target", f"127.0.0.1:{gateway.port}", "--records", str(RECORDS),
        "--lines", "2", "--rate", "100", "--duration", "0.3", "--seed", "1", "--drain", "2",
    )
    assert code == 0
    assert "Latency from send to answer" in out and "p99" in out
    assert "inputs sent after their scheduled moment: p50" in out
    assert "no protocol violation seen" in out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--target", "amqp://127.0.0.1:5672"], "amqp:// is not available"),
        (["--bus", "tcp://127.0.0.1:1883"], "--bus takes mqtt://"),
        (["--target", "nonsense"], "HOST:PORT"),
        (["--rate", "0"], "--rate"),
        (["--count", "5", "--duration", "1"], "not both"),
        (["--lines", "ZZ"], "ZZ is not a line code"),
        (["--mix", "iaq"], "--mix"),
    ],
)
def test_cli_bad_usage_exits_2(args: list[str], reason: str) -> None:
    result = CliRunner().invoke(app, ["simulate", "--records", str(RECORDS), *args])
    assert result.exit_code == 2
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_unreachable_gateway_exits_1(unused_tcp_port: int) -> None:
    result = CliRunner().invoke(app, [
        "simulate", "--target", f"127.0.0.1:{unused_tcp_port}", "--records", str(RECORDS),
        "--lines", "CA", "--count", "1",
    ])
    assert result.exit_code == 1
    assert "cannot run against" in result.stderr


# A faulty peer: it signs lines on and answers in ways a gateway must not.

# (sequence step, output) or (sequence step, output, seconds before it goes out).
Output = tuple[int, OutputMessage] | tuple[int, OutputMessage, float]
Reply = Callable[[str, str, int], list[Output]]
StartPeer = Callable[[Reply], Awaitable[tuple[int, list[str]]]]


def output(mke: str, sender: str, dest: str, control: str | None, body: str) -> OutputMessage:
    """An output with a fixed clock; the caller sets the sequence number."""
    moment = datetime(2026, 1, 2, 3, 4)
    return OutputMessage(mke, sender, moment, 1, moment, 0, dest, control, body)


def forward_to_self(line: str, text: str) -> list[Output]:
    """A line's AM to its own code comes back to it, as the gateway forwards it (the start
    mark of every run is one)."""
    msg = parse_input(text)
    if msg.mke != "AM" or msg.dests != (line,):
        return []
    return [(1, output("AM", msg.sender, line, msg.control, msg.body))]


@pytest.fixture
async def faulty_peer() -> AsyncIterator[StartPeer]:
    """Start a stub switch whose answers ``reply(line, text, next_seq)`` chooses; it numbers
    inputs and outputs as a gateway does."""
    servers: list[asyncio.Server] = []
    seen: list[str] = []

    async def start(reply: Reply) -> tuple[int, list[str]]:
        async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            decoder = FrameDecoder()
            line = ""
            seq = inputs = 0
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    text = getattr(frame, "text", "")
                    control = parse_control(text)
                    if isinstance(control, SignOn):
                        line = control.line
                        writer.write(encode_frame(format_signon_ok(line, 0)))
                        continue
                    if control is not None:
                        continue
                    seen.append(text)
                    inputs += 1
                    for step, message, *after in (forward_to_self(line, text)
                                                  or reply(line, text, seq + 1)):
                        seq += step
                        numbered = OutputMessage(
                            message.mke, message.sender, message.in_time, inputs,
                            message.out_time, seq, message.dest, message.control, message.body,
                        )
                        frame = encode_frame(format_output(numbered))
                        if after:
                            asyncio.get_running_loop().call_later(after[0], writer.write, frame)
                        else:
                            writer.write(frame)
            writer.close()

        server = await asyncio.start_server(session, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1], seen

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_unanswered_yq_is_asked_again_with_rno_2_and_3(faulty_peer: StartPeer) -> None:
    def reply(line: str, text: str, seq: int) -> list[Output]:
        msg = parse_input(text)
        if msg.mke == "QW":
            body = "MKE/IMMIGRATION VIOLATOR - ABSCONDER.\nNIC/I987654321."
            return [(1, output("QR", "DCFBIWA00", msg.sender, msg.control, body))]
        if msg.mke == "YQ" and parse_fields(msg.body)["RNO"] == "3":
            body = "STA/CONFIRMED.\nNAO/TECH ONE."
            return [(1, output("YR", "VTINS07S0", msg.sender, msg.control, body))]
        return []

    port, seen = await faulty_peer(reply)
    simulation = Simulation(
        options(port, ["CA"], count=1, mix=parse_mix("qw=1"), yq_timeout=0.2, drain=1.0),
        data_for(["CA"]),
    )
    report = await simulation.run()
    numbers = [parse_fields(parse_input(t).body)["RNO"] for t in seen if t.startswith("YQ")]
    assert numbers == ["1", "2", "3"]
    assert report.yr_status == {"CONFIRMED": 1}
    # RNO/1 and RNO/2 were never answered: that is the gateway's fault, and it is reported.
    assert report.violations["no answer"] == 2


@pytest.mark.parametrize(
    "announcement",
    [
        "STS/MLT.\nSEVERAL POSSIBLE RECORDS. AN ENHANCED RESPONSE FOLLOWS.",
        "STS/OOS.\nSUBJECT IS OUT OF STATUS AND MAY BE REMOVABLE.\n"
        "FIREARMS: MANUAL CHECK IN PROGRESS. AN ENHANCED RESPONSE FOLLOWS.",
        "STS/LPR.\nSUBJECT IS A LAWFUL PERMANENT RESIDENT OF THE UNITED STATES.\n"
        "AN ENHANCED RESPONSE FOLLOWS.",
    ],
    ids=["several-records", "firearms-check", "remark-asks"],
)
@pytest.mark.parametrize("comes", [True, False], ids=["comes", "never-comes"])
async def test_an_announced_enhanced_response_is_waited_for(
    faulty_peer: StartPeer, announcement: str, comes: bool
) -> None:
    def reply(line: str, text: str, seq: int) -> list[Output]:
        msg = parse_input(text)
        ack = "LESC ACKNOWLEDGES RECEIPT OF IAQ. LESC CONTROL NUMBER 0000000001"
        answers: list[Output] = [
            (1, output("AM", "VTINS07S0", msg.sender, msg.control, ack)),
            (1, output("IAR", "VTINS07S0", msg.sender, msg.control, announcement)),
        ]
        if comes:
            # Well after the first answers, as a technician's.
            enhanced = "ENH/Y.\nSTS/LPR.\nENHANCED RESPONSE BY LESC TECHNICIAN 01."
            answers.append((1, output("IAR", "VTINS07S0", msg.sender, msg.control, enhanced),
                            0.3))
        return answers

    port, _ = await faulty_peer(reply)
    simulation = Simulation(
        options(port, ["CA"], count=1, mix=parse_mix("iaq=1"), drain=3.0 if comes else 0.3),
        data_for(["CA"]),
    )
    report = await simulation.run()
    assert report.kinds[ENHANCED].sent == 1
    if comes:
        assert report.kinds[ENHANCED].answered == 1
        assert report.violations == {}, report.examples
    else:
        assert report.kinds[ENHANCED].answered == 0
        assert report.violations == {"no enhanced response": 1}


async def test_gap_and_missing_acknowledgement_are_reported(faulty_peer: StartPeer) -> None:
    def reply(line: str, text: str, seq: int) -> list[Output]:
        msg = parse_input(text)
        # No LESC acknowledgement, and the output skips one sequence number.
        return [(2, output("IAR", "VTINS07S0", msg.sender, msg.control, "STS/NRF."))]

    port, _ = await faulty_peer(reply)
    simulation = Simulation(
        options(port, ["CA"], count=3, mix=parse_mix("iaq=1"), drain=2.0), data_for(["CA"])
    )
    report = await simulation.run()
    assert report.answered == 3
    assert report.violations["IAR without the LESC acknowledgement before it"] == 3
    assert report.violations["sequence gap"] == 3
    # The start mark took output 1.
    assert report.examples["sequence gap"] == "CA: expected 2, got 3"


async def test_copies_for_other_agencies_are_not_answers(faulty_peer: StartPeer) -> None:
    def reply(line: str, text: str, seq: int) -> list[Output]:
        msg = parse_input(text)
        # A copy for the state's ICE field office comes first, on the same line.
        return [
            (1, output("IAR", "VTINS07S0", f"{line}ICE0000", msg.control, "STS/REM.")),
            (1, output("AM", "VTINS07S0", msg.sender, msg.control,
                       "LESC ACKNOWLEDGES RECEIPT OF IAQ. LESC CONTROL NUMBER 0000000001")),
            (1, output("IAR", "VTINS07S0", msg.sender, msg.control, "STS/REM.")),
        ]

    port, _ = await faulty_peer(reply)
    simulation = Simulation(
        options(port, ["CA"], count=3, mix=parse_mix("iaq=1"), drain=2.0), data_for(["CA"])
    )
    report = await simulation.run()
    assert report.answered == 3
    assert report.outputs_by_mke["IAR"] == 6
    assert report.violations == {}, report.examples
