"""Session control frames: sign-on, heartbeat and cumulative acknowledgement (SPEC.md §2)."""

import re
from dataclasses import dataclass

from formats.errors import ErrorCode, MessageError

HEARTBEAT = "HB"

_WHITESPACE = " \t\r\n"
# A control word stands alone: "HBX.…" or "ACKS" are messages, not malformed controls.
_KEYWORD = re.compile("(SIGNON|HB|ACK)(?![A-Z])")
_SIGNON = re.compile(r"SIGNON\.([A-Z]{2})\.([\x21-\x7e]{1,64})")
# Eighteen digits keep int() far from its digit limit and cover any real sequence number.
_ACK = re.compile("ACK\\.([0-9]{1,18})")
_SIGNON_OK = re.compile("SIGNON OK ([A-Z]{2}) ([0-9]{1,18})")
_SIGNON_REJECTED = re.compile("SIGNON REJECTED(?: (.*))?", re.DOTALL)


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

_HEARTBEAT_FRAME = Heartbeat()


def parse_control(text: str) -> Control | None:
    """Return the control frame ``text`` holds, or None when it is a message.

    Raises MessageError(FORMAT) for a text that starts like a control frame but is malformed
    (``ACK.X``, ``SIGNON.CA`` without a key).
    """
    stripped = text.strip(_WHITESPACE)
    word = _KEYWORD.match(stripped)
    if word is None:
        return None
    keyword = word.group()
    if keyword == "HB":
        if stripped != "HB":
            raise MessageError(ErrorCode.FORMAT, "HB TAKES NO ARGUMENTS", "HB")
        return _HEARTBEAT_FRAME
    if keyword == "ACK":
        ack = _ACK.fullmatch(stripped)
        if ack is None:
            raise MessageError(ErrorCode.FORMAT, "ACK MUST BE ACK.<SEQ>", "ACK")
        return Ack(int(ack.group(1)))
    signon = _SIGNON.fullmatch(stripped)
    if signon is None:
        raise MessageError(ErrorCode.FORMAT, "SIGNON MUST BE SIGNON.<LINE>.<KEY>", "SIGNON")
    return SignOn(signon.group(1), signon.group(2))


def format_signon(line: str, key: str) -> str:
    """The sign-on frame text a line sends."""
    return f"SIGNON.{line}.{key}"


def format_ack(seq: int) -> str:
    """The acknowledgement frame text a line sends."""
    return f"ACK.{seq}"


def format_signon_ok(line: str, last_ack: int) -> str:
    """``SIGNON OK <LINE> <LASTACK>``."""
    return f"SIGNON OK {line} {last_ack}"


def format_signon_rejected(reason: str) -> str:
    """``SIGNON REJECTED <REASON>``."""
    return f"SIGNON REJECTED {reason}"


def parse_signon_reply(text: str) -> tuple[bool, str, int]:
    """Parse a sign-on answer into (accepted, line or reason, last_ack); for line clients."""
    stripped = text.strip(_WHITESPACE)
    accepted = _SIGNON_OK.fullmatch(stripped)
    if accepted is not None:
        return True, accepted.group(1), int(accepted.group(2))
    rejected = _SIGNON_REJECTED.fullmatch(stripped)
    if rejected is not None:
        return False, rejected.group(1) or "", 0
    raise MessageError(ErrorCode.FORMAT, "SIGNON REPLY MUST BE SIGNON OK OR SIGNON REJECTED")
