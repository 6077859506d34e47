"""The LESC's sub-commands of ``iaqgw`` (SPEC.md §8): ``queue list|answer``, ``stats`` and
``data build``, added through the service's ``cli`` hook.

``queue`` and ``stats`` open the LESC's store in the journal file under ``--data-dir``, also
while the gateway runs: an answer is written to the casebook and the gateway sends it on its
next sweep (within ``IAQGW_QUEUE_POLL`` seconds). Exit codes: 0 ok, 1 the job failed (no
journal, no such open case), 2 bad usage with a one-line reason.
"""

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from formats.datafile import SettingError
from responders.base import CommandLine
from responders.lesc.casebook import answer_case, create_tables, queue
from responders.lesc.desk import HIT, Case
from responders.lesc.held import SCHEMA as HELD_SCHEMA
from responders.lesc.held import held_now
from responders.lesc.index import sidecar_path
from responders.lesc.records import ensure_index
from responders.lesc.settings import lesc_settings
from responders.lesc.stats import IAQ_SOURCES, Figures, FiscalYear, compute, format_duration

DataDir = Annotated[
    Path | None, typer.Option(help="Journal directory (default: data, or IAQGW_DATA_DIR)")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
# The whole LESC of instances that share a PostgreSQL database (docs/scale-out.md).
StoreUrl = Annotated[
    str | None,
    typer.Option("--store", help="Shared PostgreSQL database (postgresql://...), or "
                 "IAQGW_STORE, instead of the journal in --data-dir"),
]
IndexDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Journal and index directory", show_default="data")
]


def _console() -> Console:
    # Piped output keeps whole rows (rich would fold them to 80 columns).
    return Console() if sys.stdout.isatty() else Console(width=200)


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _item(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "kind": case.kind,
        "state": case.state,
        "line": case.line,
        "ori": case.ori,
        "received_at": case.received_at.isoformat(),
        "pri": case.pri,
        "rno": case.rno,
        "deadline": case.deadline.isoformat() if case.deadline else None,
        "rtm": case.rtm,
        "nic": case.nic,
        "oca": case.oca,
        "nam": case.request.get("NAM"),
        "dob": case.request.get("DOB"),
        "sex": case.request.get("SEX"),
        "purpose": case.request.get("PUR"),
        "candidates": [f"A{arn}" for arn in case.candidates],
        "answer": case.answer,
        "answered_by": case.answered_by,
    }


def _row(name: str, figures: Figures) -> list[str]:
    times = figures.as_dict()["response_ms"]
    return [
        name,
        *(str(figures.queries[kind]) for kind in ("IAQ_C", "IAQ_F")),
        *(str(figures.iaq_sources[source]) for source in IAQ_SOURCES),
        *(str(figures.queries[kind]) for kind in ("YQ", "QW")),
        str(figures.detainers),
        str(figures.confirmed),
        str(figures.not_confirmed),
        str(figures.open_hits),
        str(len(figures.oris)),
        format_duration(times["median"]),
        format_duration(times["p99"]),
    ]


def _table(year: FiscalYear) -> Table:
    data = year.as_dict()
    table = Table(title=f"FY{year.year} ({data['from']} to {data['to']})")
    for column in ("STATE", "IAQ C", "IAQ F", "IAQ BIOM", "IAQ BIOG", "YQ", "QW", "DETAINERS",
                   "CONFIRMED", "NOT CONF", "OPEN", "ORIS", "MEDIAN", "P99"):
        table.add_column(column, justify="left" if column == "STATE" else "right")
    for state in sorted(year.states):
        table.add_row(*_row(state, year.states[state]))
    table.add_row(*_row("TOTAL", year.total()), style="bold")
    return table


def _index_table(year: FiscalYear) -> Table | None:
    """Hits per index: IAQs that found a record there, of those that searched it."""
    total = year.total()
    if not total.searched:
        return None
    table = Table(title=f"FY{year.year} index hits (hits/searched)")
    table.add_column("STATE")
    for name in total.searched:
        table.add_column(name, justify="right")
    rows = [(state, year.states[state]) for state in sorted(year.states)]
    for name, figures in [*rows, ("TOTAL", total)]:
        cells = [f"{figures.hits[index]}/{figures.searched[index]}" for index in total.searched]
        table.add_row(name, *cells, style="bold" if name == "TOTAL" else None)
    return table




def _print_queue(cases: list[Case], held: dict[int, datetime]) -> None:
    table = Table(title=f"LESC technician queue: {len(cases)} case(s)")
    for column in ("ID", "KIND", "STATE", "ORI", "PRI/PUR", "RNO", "SUBJECT", "RECORD",
                   "RECEIVED", "DEADLINE"):
        table.add_column(column)
    for case in cases:
        subject = f"{case.request.get('NAM', '')} {case.request.get('DOB', '')}"
        if case.kind == HIT:
            kind_detail, record = case.pri or "", f"NIC/{case.nic}"
        else:
            kind_detail = f"PUR/{case.request.get('PUR', '')}"
            record = " ".join(f"A{arn}" for arn in case.candidates) or "(no record)"
        table.add_row(
            str(case.id), case.kind,
            # An enhanced case whose first IAR is still held: answering it now sends the
            # enhanced IAR first (docs/lesc.md, "Limits").
            f"{case.state} (IAR held)" if case.id in held else case.state,
            case.ori, kind_detail, str(case.rno), subject, record, _time(case.received_at),
            _time(case.deadline),
        )
    console = _console()
    console.print(table)
    if held:
        console.print(f"{len(held)} IAR(s) held for their research time (--lesc-timing "
                      f"realistic); the next goes out at {_time(min(held.values()))}")


def add_commands(cli: CommandLine) -> None:
    """Add ``queue``, ``stats`` and ``data build`` to the ``iaqgw`` command line."""
    queue_app = typer.Typer(
        help="The LESC technician queue: enhanced responses and pending hit confirmations.",
        no_args_is_help=True,
    )

    @queue_app.command("list")
    def queue_list(
        data_dir: DataDir = None, json: Json = False, store_url: StoreUrl = None
    ) -> None:
        """List open cases (hit confirmations first) and answers the gateway has yet to send,
        and how many IARs are held for their research time."""
        with cli.store(data_dir, url=store_url) as store:
            create_tables(store)
            store.schema(HELD_SCHEMA)
            cases = queue(store.reader())
            held = held_now(store.reader())
        if json:
            typer.echo(orjson.dumps([_item(case) for case in cases]).decode())
            return
        _print_queue(cases, held)

    @queue_app.command("answer")
    def queue_answer(
        case_id: Annotated[
            int, typer.Argument(metavar="ID", help="Case number from `queue list`")
        ],
        answer: Annotated[
            list[str],
            typer.Argument(
                metavar="ANSWER",
                help="Hit confirmation: CONFIRMED or NOT-CONFIRMED. Enhanced response: one of"
                " the case's A-numbers, or NRF",
            ),
        ],
        by: Annotated[str, typer.Option(help="Name of the answering technician (NAO)")] = (
            "LESC OPERATOR"
        ),
        remark: Annotated[
            str | None, typer.Option(help="A remark added to the answer (one line)")
        ] = None,
        data_dir: DataDir = None,
        store_url: StoreUrl = None,
    ) -> None:
        """Answer a queued case; the running gateway sends the answer on its next sweep."""
        with cli.store(data_dir, url=store_url) as store:
            create_tables(store)
            try:
                case = answer_case(
                    store, case_id, " ".join(answer), by, remark, datetime.now(UTC)
                )
            except ValueError as exc:
                cli.fail(str(exc), 2)
            except LookupError as exc:
                cli.fail(str(exc))
        typer.echo(f"case {case.id} answered {case.answer} by {case.answered_by}; "
                   "the gateway sends it on its next sweep")

    def stats(
        data_dir: DataDir = None,
        json: Json = False,
        year: Annotated[
            int | None, typer.Option(help="Only this fiscal year (FY2026: Oct 2025 - Sep 2026)")
        ] = None,
        store_url: StoreUrl = None,
    ) -> None:
        """Yearly LESC figures by fiscal year and state: queries, detainers, hits, ORIs, times,
        and hits per index searched."""
        with cli.store(data_dir, read_only=True, url=store_url) as store:
            years = compute(store.reader(), year, store.dialect)
        if json:
            typer.echo(orjson.dumps({"fiscal_years": [y.as_dict() for y in years]}).decode())
            return
        if not years:
            typer.echo("no LESC traffic in the journal" + (f" for FY{year}" if year else ""))
            return
        console = _console()
        for fiscal in years:
            console.print(_table(fiscal))
            indices = _index_table(fiscal)
            if indices is not None:
                console.print(indices)

    @cli.data.command("build")
    def data_build(
        data_dir: IndexDir = None,
        # serve's options, as the command line lends them: one declaration, one help text.
        records: Annotated[Path | None, cli.records_option] = None,
        synthetic_records: Annotated[int | None, cli.synthetic_records_option] = None,
    ) -> None:
        """Build the immigration index when it is missing or older than --records (`make run`)."""
        given = cli.settings(data_dir=data_dir, records=records,
                             synthetic_records=synthetic_records)
        try:
            settings = lesc_settings(given)
        except SettingError as exc:
            cli.fail(str(exc), 2)
        if settings.records is not None and not settings.records.is_file():
            cli.fail(f"--records: no file {settings.records}", 2)
        path = settings.index_path
        try:
            outcome = ensure_index(path, settings.records, settings.synthetic_records)
        except SettingError as exc:
            cli.fail(str(exc), 2)
        except (ValueError, OSError) as exc:
            cli.fail(str(exc))
        reason = ""
        if outcome == "repacked":
            reason = f" (its packed form {sidecar_path(path).name} was missing or stale)"
        elif settings.records is not None and outcome != "built":
            name = settings.records.name
            reason = f" ({name} is newer)" if outcome == "rebuilt" else f" (up to date with {name})"
        typer.echo(f"index {outcome}{reason}: {path}")

    cli.app.add_typer(queue_app, name="queue")
    cli.app.command("stats")(stats)
