"""Dates in NCIC form: MMDDYY or CCYYMMDD."""

from datetime import date


def parse_dob(value: str, today: date) -> date:
    """Parse a date of birth that is real and not after ``today``; raises MessageError(.05.).

    A two-digit year takes the latest century that does not put the date after ``today``.
    """
    raise NotImplementedError


def format_ccyymmdd(value: date) -> str:
    """CCYYMMDD."""
    raise NotImplementedError
