"""``iaqgw audit``: print the CJIS audit trail from the journal (docs/reliability.md), or from
the PostgreSQL database instances share: every instance's records (docs/scale-out.md)."""

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from formats.times import SINCE_FORMS, TimeError, parse_since
from gateway.audit import read_audit
from gateway.cli_errors import job_failed, journal_file, settings_from_flags, usage_error
from gateway.store import STORE_ERRORS, Location, first_line


class AuditEvent(StrEnum):
    """The kinds of audit record."""

    accepted = "accepted"
    rejected = "rejected"
    failed = "failed"
    delivered = "delivered"


def audit(
    data_dir: Annotated[
        Path | None, typer.Option(help="Directory holding journal.sqlite3", show_default="data")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Shared PostgreSQL database (postgresql://...), or "
                     "IAQGW_STORE, instead of the journal in --data-dir"),
    ] = None,
    line: Annotated[str | None, typer.Option(help="Only this line (sending or receiving)")] = None,
    event: Annotated[AuditEvent | None, typer.Option(help="Only this kind of record")] = None,
    since: Annotated[
        str | None, typer.Option(help=f"Only records at or after this time: {SINCE_FORMS}")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many records (-1: all)")] = -1,
    json: Annotated[bool, typer.Option("--json", help="One JSON object per record")] = False,
) -> None:
    """Print audit records: every message accepted or rejected and every delivery."""
    try:
        since_at = parse_since(since, datetime.now(UTC)) if since is not None else None
    except TimeError as exc:
        usage_error(f"--since {exc}")
    shared = settings_from_flags(store=store).store
    journal: Location = shared if shared is not None else journal_file(data_dir)
    try:
        entries = read_audit(
            journal, line=line, event=event.value if event else None, since=since_at, limit=limit
        )
    except STORE_ERRORS as exc:
        # Not the URL: it may hold a password.
        job_failed(f"{'--store' if shared is not None else journal}: {first_line(exc)}")
    for entry in entries:
        if json:
            typer.echo(orjson.dumps(entry.as_dict()).decode())
            continue
        typer.echo(
            f"{entry.at}  {entry.event:<9}  {entry.line}  {entry.ori or '-':<9}  "
            f"{entry.mke or '-':<3}  in {entry.in_line or '--'} {entry.in_seq or '-':>6}  "
            f"out {entry.out_seq or '-':>6}  {entry.outcome or ''}".rstrip()
        )


def register_audit(app: typer.Typer) -> None:
    """Add ``audit`` to the ``iaqgw`` command line."""
    app.command()(audit)
