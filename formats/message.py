"""Input message header and ``TAG/value.`` fields (SPEC.md §3)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InputMessage:
    """A parsed input: header values plus the text after ``TXT`` (``body``) and the original text."""

    mke: str
    sender: str
    dests: tuple[str, ...]
    control: str | None
    body: str
    text: str


def parse_input(text: str) -> InputMessage:
    """Parse the header ``MKE.SENDERORI.DEST[.DEST…][.*CONTROL].TXT``.

    Checks only the header: MKE shape (0), sender ORI shape (.01.), control field (.01.),
    1–5 destinations of a valid shape (.19.), TXT marker (.03.). Raises MessageError.
    """
    raise NotImplementedError


def parse_fields(body: str) -> dict[str, str]:
    """Parse ``TAG/value.`` fields in order; REM/ last and may hold periods.

    Raises MessageError(.22.) for an empty field, a repeated tag or text that is not a field.
    """
    raise NotImplementedError


def format_fields(fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Render fields one per line as ``TAG/value.``."""
    raise NotImplementedError


def format_input(
    mke: str, sender: str, dests: Iterable[str], body: str, control: str | None = None
) -> str:
    """Render an input message (for line clients and tests); parse_input inverts it."""
    raise NotImplementedError
