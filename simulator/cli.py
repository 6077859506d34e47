"""The test-harness and operator commands of ``iaqgw``: simulate, replay, tail (SPEC.md §8).

The command line's root (gateway/cli.py) finds them through the entry point group
``iaqgw.commands``, so the switch never imports the simulator.

Exit codes as everywhere in ``iaqgw``: 0 ok, 1 the job failed (a protocol violation, a
replay difference, no connection), 2 bad usage with a one-line reason.
"""

import asyncio
import csv
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from formats.times import SINCE_FORMS, TimeError, parse_since
from gateway.cli_errors import job_failed as _fail
from gateway.cli_errors import os_reason, unreadable
from gateway.cli_errors import usage_error as _usage
from routing.lines import dev_key
from simulator.defaults import DEFAULT_YQ_TIMEOUT, default_drain, parse_lesc_timing

DEFAULT_TARGET = "127.0.0.1:7300"


def _target(text: str) -> Any:
    from simulator.switches import parse_target

    try:
        return parse_target(text)
    except ValueError as exc:
        _usage(f"--target {exc}")


def _keys(lines: list[str], keys_file: Path | None) -> dict[str, str]:
    """Each line's key: from ``keys_file`` (CSV ``line,key``) or the development key."""
    keys = {line: dev_key(line) for line in lines}
    if keys_file is None:
        return keys
    try:
        with keys_file.open(newline="", encoding="ascii") as handle:
            given = {row["line"].strip().upper(): row["key"].strip()
                     for row in csv.DictReader(handle)}
    except (OSError, KeyError, UnicodeDecodeError, csv.Error) as exc:
        _usage(f"--keys: cannot read {keys_file} as CSV line,key ({exc})")
    keys.update({line: key for line, key in given.items() if line in keys})
    return keys


def _lines(text: str, oris: Any) -> list[str]:
    """``CA,TX,NY`` or a number N: the N lines with the most agencies."""
    from routing.lines import LINE_CODES
    from simulator.traffic import busiest_lines

    if text.isdigit():
        count = int(text)
        if not 1 <= count <= len(LINE_CODES):
            _usage(f"--lines: a number from 1 to {len(LINE_CODES)}, or codes like CA,TX")
        return busiest_lines(oris, count)
    codes = [code.strip().upper() for code in text.split(",") if code.strip()]
    unknown = [code for code in codes if code not in LINE_CODES]
    if not codes or unknown:
        _usage(f"--lines: {', '.join(unknown) or 'none given'} is not a line code")
    return list(dict.fromkeys(codes))


def _xml_lines(text: str | None, codes: list[str]) -> frozenset[str]:
    """The lines of ``--xml-lines``: codes among the run's lines, or ``all`` of them."""
    if text is None:
        return frozenset()
    if text.strip().lower() == "all":
        return frozenset(codes)
    given = [code.strip().upper() for code in text.split(",") if code.strip()]
    strangers = [code for code in given if code not in codes]
    if not given or strangers:
        _usage(f"--xml-lines: {', '.join(strangers) or 'none given'} is not a line of the run"
               f" ({','.join(codes)}); give some of those, or all")
    return frozenset(given)


def simulate(
    target: Annotated[str, typer.Option(help="Gateway as HOST:PORT or tcp://HOST:PORT")] = (
        DEFAULT_TARGET
    ),
    bus: Annotated[
        str | None, typer.Option(help="Drive MQTT lines through this broker (mqtt://HOST:PORT)")
    ] = None,
    lines: Annotated[str, typer.Option(help="Line codes (CA,TX,NY) or how many lines")] = "8",
    xml_lines: Annotated[
        str | None,
        typer.Option(help="Lines of the run that send and read Nlets XML (CA,TX, or all); "
                          "the gateway's --lines file gives them format xml"),
    ] = None,
    rate: Annotated[float, typer.Option(help="Inputs per second, open loop")] = 20.0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds of traffic (10 without --count)")
    ] = None,
    count: Annotated[int | None, typer.Option(help="Number of inputs (instead of --duration)")] = (
        None
    ),
    mix: Annotated[
        str, typer.Option(help="Weights of the mix: iaq=…,qw=…,am=…,bad=…,bio=… (bio: "
                               "biometric IAQs, sent on line WV)")
    ] = (
        "iaq=70,qw=15,am=13,bad=2"
    ),
    seed: Annotated[int | None, typer.Option(help="Seed for the same traffic again")] = None,
    record: Annotated[
        Path | None, typer.Option(help="Write the run's own traffic to this file (JSON lines)")
    ] = None,
    records: Annotated[
        Path | None, typer.Option(help="Records CSV to draw subjects from (as the gateway's)")
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(help="Where the synthetic index is (without --records)")
    ] = Path("data"),
    synthetic_records: Annotated[int, typer.Option(help="Size of the synthetic index")] = (
        1_000_000
    ),
    oris: Annotated[Path | None, typer.Option(help="ORI registry CSV (as the gateway's)")] = None,
    keys: Annotated[Path | None, typer.Option(help="CSV line,key of plain line keys")] = None,
    yq_timeout: Annotated[
        float,
        typer.Option(help="Seconds without a final YR before RNO/2, then RNO/3; by default "
                          "twice the gateway's default technician delay cap"),
    ] = DEFAULT_YQ_TIMEOUT,
    lesc_timing: Annotated[
        str,
        typer.Option(help="The gateway's --lesc-timing: immediate, or realistic (IARs come "
                          "minutes after the acknowledgement; the drain waits for them)"),
    ] = "immediate",
    drain: Annotated[
        float | None,
        typer.Option(help="Longest wait at the end for answers and announced enhanced "
                          "responses; by default the gateway's default technician delay cap "
                          "+ 10 s, plus its longest research time with realistic timing",
                     show_default=False),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = (
        False
    ),
) -> None:
    """Run simulated state switches against a gateway and summarise latency and outcomes."""
    from simulator.traffic import CJIS_LINE, parse_mix

    if bus is not None and not bus.startswith("mqtt://"):
        _usage("--bus takes mqtt://HOST:PORT")
    parsed_target = _target(bus or target)
    if rate <= 0:
        _usage("--rate must be above 0")
    if duration is not None and count is not None:
        _usage("give --duration or --count, not both")
    if (duration is not None and duration <= 0) or (count is not None and count <= 0):
        _usage("--duration and --count must be above 0")
    try:
        weights = parse_mix(mix)
    except ValueError as exc:
        _usage(f"--mix {exc}")
    try:
        timing = parse_lesc_timing(lesc_timing)
    except ValueError as exc:
        _usage(str(exc))
    if drain is None:
        drain = default_drain(timing)
    if yq_timeout <= 0 or drain < 0:
        _usage("--yq-timeout must be above 0 and --drain not below 0")
    total = count if count is not None else max(1, round(rate * (duration or 10.0)))
    if seed is None:
        seed = random.randrange(1_000_000)
    data, codes = _traffic_data(records, data_dir, synthetic_records, oris, lines, seed)
    if weights["bio"] > 0 and CJIS_LINE not in codes:
        _usage(f"--mix bio sends on line {CJIS_LINE} (the FBI CJIS Division's): add it to --lines")
    xml = _xml_lines(xml_lines, codes)
    from simulator.simulate import Simulation, SimulationOptions

    options = SimulationOptions(
        target=parsed_target, keys=_keys(codes, keys), rate=rate, count=total, mix=weights,
        seed=seed, record=record, yq_timeout=yq_timeout, drain=drain, xml_lines=xml,
        lesc_timing=timing,
        records=records.name if records is not None else f"synthetic-{synthetic_records}",
    )
    simulation = Simulation(options, data)
    console = Console(stderr=True)
    try:
        report = uvloop.run(_run_with_progress(simulation, total, console, not json_output))
    except (OSError, ConnectionError, TimeoutError) as exc:
        _fail(f"cannot run against {parsed_target}: {exc or type(exc).__name__}")
    if json_output:
        sys.stdout.buffer.write(orjson.dumps({"seed": seed, **report.as_dict()}) + b"\n")
    else:
        out = Console()
        out.print(f"seed {seed}, target {parsed_target}")
        report.render(out)
    if report.violations:
        raise typer.Exit(1)


def _traffic_data(records: Path | None, data_dir: Path, synthetic_records: int,
                  oris_path: Path | None, lines_text: str, seed: int) -> tuple[Any, list[str]]:
    from gateway.datafiles import load_oris
    from simulator.traffic import (
        TrafficData,
        agencies_by_line,
        subjects_from_csv,
        synthetic_subjects,
        traffic_data,
    )

    if records is not None and not records.is_file():
        _usage(f"--records: no file {records}")
    if oris_path is not None and not oris_path.is_file():
        _usage(f"--oris: no file {oris_path}")
    try:
        registry = load_oris(oris_path)
    except (ValueError, OSError) as exc:
        _usage(f"--oris: {exc}")
    codes = _lines(lines_text, registry)
    try:
        if records is not None:
            return traffic_data(subjects_from_csv(records), registry, codes), codes
        ordinary, ivf, shared = synthetic_subjects(data_dir, synthetic_records, seed)
    except (ValueError, KeyError, OSError) as exc:
        _usage(f"cannot read the records: {exc}")
    agencies = agencies_by_line(registry, codes)
    return TrafficData(tuple(ordinary), tuple(ivf), tuple(shared), agencies), codes


async def _run_with_progress(simulation: Any, total: int, console: Console, show: bool) -> Any:
    # The bar counts the inputs of the mix; the counts beside it are the summary's own.
    task = asyncio.create_task(simulation.run())
    report = simulation.report
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not show, transient=False) as progress:
        bar = progress.add_task("the mix", total=total, counts=report.counts())
        while not task.done():
            progress.update(bar, completed=report.scheduled, counts=report.counts(),
                            description="the mix" if report.scheduled < total else "draining")
            await asyncio.wait({task}, timeout=0.1)
        progress.update(bar, completed=report.scheduled, counts=report.counts(),
                        description="done")
    return task.result()


def replay(
    file: Annotated[
        Path, typer.Argument(help="A record written by simulate --record", readable=False)
    ],
    target: Annotated[str, typer.Option(help="Gateway as HOST:PORT or tcp://HOST:PORT")] = (
        DEFAULT_TARGET
    ),
    speed: Annotated[str, typer.Option(help="1x (recorded pacing), 10x, any Nx, or max")] = "1x",
    verify: Annotated[
        bool, typer.Option(help="Compare answers with the recorded ones; exit 1 on a difference")
    ] = False,
    keys: Annotated[Path | None, typer.Option(help="CSV line,key of plain line keys")] = None,
    settle: Annotated[
        float,
        typer.Option(help="Once no recorded output is missing, stop after this many seconds "
                          "without another"),
    ] = 1.0,
    lesc_timing: Annotated[
        str | None,
        typer.Option(help="The gateway's --lesc-timing (immediate or realistic); by default "
                          "the recorded run's", show_default=False),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Longest wait after the last input for outputs still missing; by "
                          "default the gateway's default technician delay cap + 10 s, plus "
                          "its longest research time with realistic timing",
                     show_default=False),
    ] = None,
) -> None:
    """Send a recorded traffic file again, optionally verifying the answers."""
    from simulator.record import RecordError, read_record
    from simulator.replay import parse_speed, render_differences
    from simulator.replay import replay as run_replay

    parsed_target = _target(target)
    try:
        pace = parse_speed(speed)
    except ValueError as exc:
        _usage(str(exc))
    if lesc_timing is not None:
        try:
            parse_lesc_timing(lesc_timing)
        except ValueError as exc:
            _usage(str(exc))
    if settle <= 0 or (timeout is not None and timeout <= 0):
        _usage("--settle and --timeout must be above 0")
    try:
        recorded = read_record(file)
    except OSError as exc:
        _usage(f"cannot read {file}: {exc.strerror or exc}")
    except RecordError as exc:
        _usage(f"{file}: {exc}")
    if timeout is None:
        timeout = default_drain(lesc_timing or recorded.lesc_timing)
    try:
        result = uvloop.run(
            run_replay(recorded, parsed_target, _keys(recorded.lines, keys), pace, settle,
                       timeout)
        )
    except (OSError, ConnectionError, TimeoutError) as exc:
        _fail(f"cannot replay against {parsed_target}: {exc or type(exc).__name__}")
    typer.echo(f"replayed {result.sent} inputs on {len(recorded.lines)} lines in "
               f"{result.elapsed:.1f} s; {len(result.outputs)} outputs "
               f"({len(recorded.received)} recorded)")
    if result.earlier:
        typer.echo(f"left out {result.earlier} outputs no replayed input caused")
    if not verify:
        return
    if result.differences:
        typer.echo(render_differences(result.differences))
        _fail(f"verify: {len(result.differences)} (line, control) groups differ from the record")
    typer.echo(f"verify: all {len(result.outputs)} outputs match the record")


def tail(
    file: Annotated[
        Path | None,
        typer.Argument(help="JSON log file; standard input when left out or -", readable=False),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading as the log grows, across rotation")
    ] = False,
    ori: Annotated[str | None, typer.Option(help="Glob on the ORI or destination (CA*)")] = None,
    mke: Annotated[str | None, typer.Option(help="Message keys, comma separated (IAQ,YQ)")] = None,
    event: Annotated[str | None, typer.Option(help="Glob on the event (message.*)")] = None,
    level: Annotated[str | None, typer.Option(help="Lowest level shown (info, warning …)")] = None,
    since: Annotated[
        str | None, typer.Option(help=f"Only lines logged at or after this time: {SINCE_FORMS}")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Pass the matching lines through unchanged")
    ] = False,
) -> None:
    """Follow the gateway's JSON log with filters, in readable columns."""
    from simulator.tail import LEVELS, Filters, follow_lines
    from simulator.tail import tail as run_tail

    if level is not None and level.lower() not in LEVELS:
        _usage(f"--level: one of {', '.join(LEVELS)}")
    try:
        since_at = parse_since(since, datetime.now(UTC)) if since is not None else None
    except TimeError as exc:
        _usage(f"--since {exc}")
    filters = Filters(
        ori=ori.upper() if ori else None,
        mke=frozenset(m.strip().upper() for m in mke.split(",")) if mke else None,
        event=event, level=level.lower() if level else None, since=since_at,
    )
    source: Iterator[bytes]
    if file is None or str(file) == "-":
        source = iter(sys.stdin.buffer)
    else:
        # Followed, the log may appear later; anything else must be readable now.
        problem = None if follow and not file.exists() else unreadable(file)
        if problem is not None:
            _usage(problem)
        source = follow_lines(file, follow)
    try:
        run_tail(source, filters, json_output, Console(highlight=False), sys.stdout.buffer)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()
    except OSError as exc:
        _fail(f"{file or 'standard input'}: {os_reason(exc)}")


def register_tools(app: typer.Typer) -> None:
    """Add simulate, replay and tail to the ``iaqgw`` command line."""
    app.command()(simulate)
    app.command()(replay)
    app.command()(tail)
