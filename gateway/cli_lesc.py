"""``iaqgw queue list|answer`` and ``iaqgw stats``: the LESC operator's commands (SPEC.md §8).

They open the journal file under ``--data-dir`` directly, also while the gateway runs: an
answer is written to the casebook and the gateway sends it on its next sweep (within
``IAQGW_QUEUE_POLL`` seconds). Exit codes: 0 ok, 1 the job failed (no journal, no such open
case), 2 bad usage with a one-line reason.
"""

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gateway.casebook import answer_case, connect, queue
from gateway.cli_errors import job_failed, journal_file, usage_error
from gateway.stats import Figures, FiscalYear, compute, format_duration, open_read_only
from responders.lesc_desk import HIT, Case

queue_app = typer.Typer(
    help="The LESC technician queue: enhanced responses and pending hit confirmations.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None, typer.Option(help="Journal directory (default: data, or IAQGW_DATA_DIR)")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def _console() -> Console:
    # Piped output keeps whole rows (rich would fold them to 80 columns).
    return Console() if sys.stdout.isatty() else Console(width=200)


@contextmanager
def _journal(data_dir: Path | None, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """The journal under ``--data-dir``, open; a journal SQLite cannot use stops the job."""
    path = journal_file(data_dir)
    try:
        db = open_read_only(path) if read_only else connect(path)
        try:
            yield db
        finally:
            db.close()
    except sqlite3.Error as exc:
        job_failed(f"{path}: {exc}")


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


@queue_app.command("list")
def queue_list(data_dir: DataDir = None, json: Json = False) -> None:
    """List open cases (hit confirmations first) and answers the gateway has yet to send."""
    with _journal(data_dir) as db:
        cases = queue(db)
    if json:
        typer.echo(orjson.dumps([_item(case) for case in cases]).decode())
        return
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
            str(case.id), case.kind, case.state, case.ori, kind_detail, str(case.rno),
            subject, record, _time(case.received_at), _time(case.deadline),
        )
    _console().print(table)


@queue_app.command("answer")
def queue_answer(
    case_id: Annotated[int, typer.Argument(metavar="ID", help="Case number from `queue list`")],
    answer: Annotated[
        list[str],
        typer.Argument(
            metavar="ANSWER",
            help="Hit confirmation: CONFIRMED or NOT-CONFIRMED. Enhanced response: one of the "
            "case's A-numbers, or NRF",
        ),
    ],
    by: Annotated[str, typer.Option(help="Name of the answering technician (NAO)")] = (
        "LESC OPERATOR"
    ),
    remark: Annotated[
        str | None, typer.Option(help="A remark added to the answer (one line)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Answer a queued case; the running gateway sends the answer on its next sweep."""
    with _journal(data_dir) as db:
        try:
            case = answer_case(db, case_id, " ".join(answer), by, remark, datetime.now(UTC))
        except ValueError as exc:
            usage_error(str(exc))
        except LookupError as exc:
            job_failed(str(exc))
    typer.echo(f"case {case.id} answered {case.answer} by {case.answered_by}; "
               "the gateway sends it on its next sweep")


def _row(name: str, figures: Figures) -> list[str]:
    times = figures.as_dict()["response_ms"]
    return [
        name,
        *(str(figures.queries[kind]) for kind in ("IAQ_C", "IAQ_F", "YQ", "QW")),
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
    for column in ("STATE", "IAQ C", "IAQ F", "YQ", "QW", "DETAINERS", "CONFIRMED",
                   "NOT CONF", "OPEN", "ORIS", "MEDIAN", "P99"):
        table.add_column(column, justify="left" if column == "STATE" else "right")
    for state in sorted(year.states):
        table.add_row(*_row(state, year.states[state]))
    table.add_row(*_row("TOTAL", year.total()), style="bold")
    return table


def stats(
    data_dir: DataDir = None,
    json: Json = False,
    year: Annotated[
        int | None, typer.Option(help="Only this fiscal year (FY2026: Oct 2025 - Sep 2026)")
    ] = None,
) -> None:
    """The LESC's yearly figures by fiscal year and state: queries, detainers, hits, ORIs, times."""
    with _journal(data_dir, read_only=True) as db:
        years = compute(db, year)
    if json:
        typer.echo(orjson.dumps({"fiscal_years": [y.as_dict() for y in years]}).decode())
        return
    if not years:
        typer.echo("no LESC traffic in the journal" + (f" for FY{year}" if year else ""))
        return
    console = _console()
    for fiscal in years:
        console.print(_table(fiscal))


def register_lesc(app: typer.Typer) -> None:
    """Add ``queue`` and ``stats`` to the ``iaqgw`` command line."""
    app.add_typer(queue_app, name="queue")
    app.command("stats")(stats)
