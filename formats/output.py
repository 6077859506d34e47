"""The Nlets output header (SPEC.md §4)."""

from dataclasses import dataclass
from datetime import datetime

SEQ_WRAP = 100_000


@dataclass(frozen=True, slots=True)
class OutputMessage:
    """An output as delivered to a line; sequence numbers are the full numbers."""

    mke: str
    sender: str
    in_time: datetime
    in_seq: int
    out_time: datetime
    out_seq: int
    dest: str
    control: str | None
    body: str


def format_output(msg: OutputMessage) -> str:
    """Render header and body; sequence numbers are printed modulo 100000, five digits."""
    raise NotImplementedError


def parse_output(text: str) -> OutputMessage:
    """Parse a delivered output (for line clients); sequence numbers come back as 0–99999."""
    raise NotImplementedError
