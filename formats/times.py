"""Moments as people write them on a command line: ISO 8601 times and ages (10m, 2h, 3d).

One parser for every ``--since`` (``iaqgw tail``, ``iaqgw audit``), so the same words mean
the same instant everywhere. It reads no clock: an age counts back from the ``now`` it is
given.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Final

# What the parser takes, for error messages and --help texts.
SINCE_FORMS: Final = (
    "an ISO time (UTC unless it names a zone: 2026-12-01T20:03:00-05:00) "
    "or an age (30s, 10m, 2h, 3d)"
)
_AGE = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)([smhd])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TimeError(ValueError):
    """A text that is neither an ISO time nor an age; the message says what to write."""


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime; a time naming no zone is UTC."""
    # fromisoformat takes digits of any script; a time on a command line is ASCII.
    if not text.isascii():
        raise TimeError(f"{text!r} is not a time: write {SINCE_FORMS}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TimeError(f"{text!r} is not a time: write {SINCE_FORMS}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # A zone that moves year 1 or 9999 out of range.
        raise TimeError(f"{text!r} is out of range: write a time in years 1 to 9999") from None


def parse_since(text: str, now: datetime) -> datetime:
    """The instant ``text`` names, as an aware UTC datetime: an ISO time or an age before ``now``.

    ``now`` must be timezone-aware. Raises :class:`TimeError` for anything else.
    """
    text = text.strip()
    age = _AGE.fullmatch(text)
    if age is None:
        return parse_iso(text)
    seconds = float(age.group(1)) * _UNIT_SECONDS[age.group(2)]
    try:
        return (now - timedelta(seconds=seconds)).astimezone(UTC)
    except OverflowError:
        raise TimeError(f"{text!r} reaches back before year 1: write a shorter age") from None
