"""`iaqgw simulate` and `iaqgw replay` against a gateway with realistic LESC timing (issue 12,
item 2): the run waits for the held IARs and reports the acknowledgement's latency apart, and a
record verifies against either timing (outputs are compared whenever they come)."""

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from gateway_process import run_cli
from paths import RECORDS
from typer.testing import CliRunner

from gateway.app import Gateway
from gateway.cli import app
from gateway.datafiles import load_oris
from responders.lesc.timing import LONGEST
from routing.lines import dev_key
from simulator.defaults import (
    DEFAULT_DRAIN,
    REALISTIC_DRAIN,
    RESEARCH_LONGEST,
    TECHNICIAN_DELAY_MAX,
    default_drain,
)
from simulator.record import read_record
from simulator.report import ACKNOWLEDGED
from simulator.simulate import Simulation, SimulationOptions
from simulator.switches import parse_target
from simulator.traffic import parse_mix, subjects_from_csv, traffic_data

# Long enough that an acknowledgement on a loaded two-core CI machine still comes well before it.
RESEARCH_S = 2.0
FAST_TECHNICIAN = {"technician_delay": "fixed", "technician_delay_mean": 0.05}
LINES = ["CA", "TX"]



def test_realistic_defaults_outlast_the_longest_research() -> None:
    # The simulator does not import the gateway: its copy of the longest draw must follow.
    assert RESEARCH_LONGEST == LONGEST
    assert default_drain("immediate") == DEFAULT_DRAIN
    # An enhanced response starts when the held IAR goes out: the drain waits for both.
    assert default_drain("realistic") == REALISTIC_DRAIN > LONGEST + TECHNICIAN_DELAY_MAX


async def test_realistic_run_waits_for_the_held_iars_and_records_the_timing(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    realistic = await start_gateway(lesc_timing="realistic", lesc_timing_fixed=RESEARCH_S,
                                    data_dir=tmp_path / "realistic", **FAST_TECHNICIAN)
    record = tmp_path / "realistic.jsonl"
    options = SimulationOptions(
        target=parse_target(f"127.0.0.1:{realistic.port}"),
        keys={line: dev_key(line) for line in LINES}, rate=100.0, count=30,
        mix=parse_mix("iaq=1"), seed=4, record=record, drain=5.0, lesc_timing="realistic",
    )
    data = traffic_data(subjects_from_csv(RECORDS), load_oris(None), LINES)
    simulation = Simulation(options, data)
    report = await simulation.run()
    assert report.violations == {}, report.examples
    assert report.answered == report.sent == 30
    assert simulation.unsettled == 0
    acks = report.kinds[ACKNOWLEDGED]
    assert acks.sent == acks.answered == 30
    # Acknowledged at once; answered after the research time.
    ack_p99, iar_p50 = acks.percentile_ms(99), report.kinds["iaq-c"].percentile_ms(50)
    assert ack_p99 is not None and ack_p99 < RESEARCH_S * 1000
    assert iar_p50 is not None and iar_p50 >= RESEARCH_S * 1000
    assert read_record(record).lesc_timing == "realistic"

    # The record verifies against a gateway that answers at once: the outputs are the same.
    immediate = await start_gateway(data_dir=tmp_path / "immediate", **FAST_TECHNICIAN)
    code, out, err = await run_cli("replay", str(record), "--target",
                                   f"127.0.0.1:{immediate.port}", "--verify")
    assert code == 0, out + err
    assert "verify: all" in out
    # And against a realistic one, waiting by the record's timing (no --timeout given).
    again = await start_gateway(lesc_timing="realistic", lesc_timing_fixed=RESEARCH_S,
                                data_dir=tmp_path / "again", **FAST_TECHNICIAN)
    code, out, err = await run_cli("replay", str(record), "--target",
                                   f"127.0.0.1:{again.port}", "--verify")
    assert code == 0, out + err


@pytest.mark.parametrize("command", ["simulate", "replay"])
def test_unknown_timing_is_a_usage_error(command: str, tmp_path: Path) -> None:
    args = [command, "--lesc-timing", "slow"]
    if command == "replay":
        args.append(str(tmp_path / "none.jsonl"))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr == "iaqgw: --lesc-timing 'slow': write immediate or realistic\n"
