"""Dates in NCIC form: MMDDYY or CCYYMMDD."""

from datetime import date

from formats.errors import ErrorCode, MessageError

_LENGTHS = (6, 8)


def parse_dob(value: str, today: date) -> date:
    """Parse a date of birth that is real and not after ``today``; raises MessageError(.05.).

    A two-digit year takes the latest century that does not put the date after ``today``.
    """
    # isascii() first: isdigit() alone also takes digits of other scripts.
    if not (len(value) in _LENGTHS and value.isascii() and value.isdigit()):
        raise MessageError(ErrorCode.DOB, "DOB/ MUST BE MMDDYY OR CCYYMMDD", "DOB")
    if len(value) == 8:
        # The usual form, on the hot path: one int() and two divmods split it for less than
        # three slices and three int()s, and there is a single year to try.
        year, month_day = divmod(int(value), 10000)
        try:
            dob = date(year, *divmod(month_day, 100))
        except ValueError:
            raise MessageError(ErrorCode.DOB, "DOB/ NOT A REAL DATE", "DOB") from None
        if dob <= today:
            return dob
        raise MessageError(ErrorCode.DOB, "DOB/ AFTER TODAY", "DOB")
    month, day, short_year = int(value[:2]), int(value[2:4]), int(value[4:])
    century = today.year - today.year % 100
    years = (century + short_year, century - 100 + short_year)
    real = False
    for year in years:
        try:
            candidate = date(year, month, day)
        except ValueError:
            # Not a calendar date in this century (Feb 29, year 0): the other may still be.
            continue
        if candidate <= today:
            return candidate
        real = True
    detail = "DOB/ AFTER TODAY" if real else "DOB/ NOT A REAL DATE"
    raise MessageError(ErrorCode.DOB, detail, "DOB")


def format_ccyymmdd(value: date) -> str:
    """CCYYMMDD."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"
