"""``iaqgw audit``: print the CJIS audit trail from the journal (docs/reliability.md)."""

import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from gateway.audit import read_audit
from gateway.config import Settings


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
    line: Annotated[str | None, typer.Option(help="Only this line (sending or receiving)")] = None,
    event: Annotated[AuditEvent | None, typer.Option(help="Only this kind of record")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only records at or after this UTC time (2026-11-23T05:00)")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many records (-1: all)")] = -1,
    json: Annotated[bool, typer.Option("--json", help="One JSON object per record")] = False,
) -> None:
    """Print audit records: every message accepted or rejected and every delivery."""
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    journal = settings.journal_path
    if not journal.is_file():
        typer.echo(f"iaqgw: no journal at {journal}", err=True)
        raise typer.Exit(1)
    try:
        entries = read_audit(
            journal, line=line, event=event.value if event else None, since=since, limit=limit
        )
    except sqlite3.Error as exc:
        typer.echo(f"iaqgw: {journal}: {exc}", err=True)
        raise typer.Exit(1) from exc
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
