"""``iaqgw convert``: one message, input or output, from legacy text to Nlets XML or back
(SPEC.md §10), for integrators checking their own messages."""

import sys
from datetime import date
from typing import Annotated

import typer

from formats.errors import MessageError
from formats.nlets_xml import convert as convert_message
from gateway.cli_errors import usage_error

FORMS = ("xml", "text")


def convert(
    to: Annotated[
        str | None,
        typer.Option(help="Form to write: xml or text", show_default="the other form"),
    ] = None,
) -> None:
    """Read one message on stdin and write it on stdout in the other form (or in --to).

    Inputs and outputs alike; a captured frame (STX … ETX) is taken too.

    IAQ, YQ and QW fields are laid out one per line in legacy order, a DOB as CCYYMMDD, so
    that they go tagged; the switch itself translates exactly.

    A text that is no message gets one line saying why (exit 2).
    """
    if to is not None and to not in FORMS:
        usage_error(f"--to {to}: write xml or text")
    # Latin-1 keeps every byte: one outside the character set gets the ER 0 a frame would.
    stream = getattr(sys.stdin, "buffer", None)
    raw = stream.read().decode("latin-1") if stream is not None else sys.stdin.read()
    text = raw.removeprefix("\x02").removesuffix("\n").removesuffix("\r").removesuffix("\x03")
    if not text.strip():
        usage_error("no message on stdin")
    try:
        typer.echo(convert_message(text, to, date.today()))
    except MessageError as exc:
        usage_error(f"not a message: {exc.code} {exc.detail}")


def register_convert(app: typer.Typer) -> None:
    """Add ``convert`` to the ``iaqgw`` command line."""
    app.command("convert")(convert)
