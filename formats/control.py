"""Session control frames: sign-on, heartbeat and cumulative acknowledgement (SPEC.md §2)."""

from dataclasses import dataclass

HEARTBEAT = "HB"


@dataclass(frozen=True, slots=True)
class SignOn:
    """``SIGNON.<LINE>.<KEY>``."""

    line: str
    key: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """``HB``."""


@dataclass(frozen=True, slots=True)
class Ack:
    """``ACK.<SEQ>``: every output up to ``seq`` is acknowledged."""

    seq: int


Control = SignOn | Heartbeat | Ack


def parse_control(text: str) -> Control | None:
    """Return the control frame ``text`` holds, or None when it is a message.

    Raises MessageError(FORMAT) for a text that starts like a control frame but is malformed
    (``ACK.X``, ``SIGNON.CA`` without a key).
    """
    raise NotImplementedError


def format_signon(line: str, key: str) -> str:
    """The sign-on frame text a line sends."""
    raise NotImplementedError


def format_ack(seq: int) -> str:
    """The acknowledgement frame text a line sends."""
    raise NotImplementedError


def format_signon_ok(line: str, last_ack: int) -> str:
    """``SIGNON OK <LINE> <LASTACK>``."""
    raise NotImplementedError


def format_signon_rejected(reason: str) -> str:
    """``SIGNON REJECTED <REASON>``."""
    raise NotImplementedError


def parse_signon_reply(text: str) -> tuple[bool, str, int]:
    """Parse a sign-on answer into (accepted, line or reason, last_ack); for line clients."""
    raise NotImplementedError
