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
        # The usual form, on the hot path, with a single year to try. Eight ASCII digits are
        # ISO 8601's basic CCYYMMDD, which date.fromisoformat reads in C (0.11 against 0.47
        # µs for int() and divmod).
        try:
            dob = date.fromisoformat(value)
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
    # One str() of the date as a number: three format specs cost three times as much.
    return str(value.year * 10_000 + value.month * 100 + value.day).zfill(8)
