"""NCIC dates of birth and Soundex."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.dates import format_ccyymmdd, parse_dob
from formats.errors import ErrorCode, MessageError
from formats.soundex import soundex

TODAY = date(2026, 5, 9)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19800101", date(1980, 1, 1)),
        ("010180", date(1980, 1, 1)),
        ("010125", date(2025, 1, 1)),
        ("010127", date(1927, 1, 1)),
        ("050926", date(2026, 5, 9)),
        ("051026", date(1926, 5, 10)),
        ("20260509", TODAY),
        ("022924", date(2024, 2, 29)),
        ("022900", date(2000, 2, 29)),
        ("00010101", date(1, 1, 1)),
        ("123199", date(1999, 12, 31)),
    ],
)
def test_parse_dob(value: str, expected: date) -> None:
    assert parse_dob(value, TODAY) == expected


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("1980011", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("0101800", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("01-01-80", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("1980-01-01", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("JAN0180", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("\u0661\u0662\u0663\u0664\u0665\u0666", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("198001011", "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("133180", "DOB/ NOT A REAL DATE"),
        ("023080", "DOB/ NOT A REAL DATE"),
        ("022926", "DOB/ NOT A REAL DATE"),
        ("19810229", "DOB/ NOT A REAL DATE"),
        ("00000101", "DOB/ NOT A REAL DATE"),
        ("20260510", "DOB/ AFTER TODAY"),
        ("30000101", "DOB/ AFTER TODAY"),
    ],
)
def test_parse_dob_faults(value: str, detail: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_dob(value, TODAY)
    assert (info.value.code, info.value.detail, info.value.field) == (ErrorCode.DOB, detail, "DOB")


def test_two_digit_year_falls_back_when_this_century_is_no_date() -> None:
    # 2100-02-29 does not exist; 2000-02-29 does and is in the past.
    assert parse_dob("022900", date(2100, 6, 1)) == date(2000, 2, 29)
    with pytest.raises(MessageError) as info:
        parse_dob("022900", date(2000, 1, 1))
    assert info.value.detail == "DOB/ AFTER TODAY"


@given(st.dates(max_value=TODAY))
def test_ccyymmdd_round_trip(value: date) -> None:
    text = format_ccyymmdd(value)
    assert len(text) == 8
    assert parse_dob(text, TODAY) == value


@given(st.dates(min_value=date(1926, 5, 10), max_value=TODAY))
def test_mmddyy_means_the_last_hundred_years(value: date) -> None:
    assert parse_dob(f"{value.month:02d}{value.day:02d}{value.year % 100:02d}", TODAY) == value


@given(st.text(max_size=10) | st.from_regex(r"[0-9]{6}|[0-9]{8}", fullmatch=True), st.dates())
def test_parse_dob_only_raises_message_error(value: str, today: date) -> None:
    try:
        parsed = parse_dob(value, today)
    except MessageError as exc:
        assert exc.code == ErrorCode.DOB
    else:
        assert parsed <= today


@given(st.from_regex(r"[0-9]{8}", fullmatch=True) | st.dates().map(format_ccyymmdd), st.dates())
def test_ccyymmdd_reads_as_its_slices(value: str, today: date) -> None:
    """parse_dob reads CCYYMMDD with date.fromisoformat; it must read as the plain slices do."""
    expected: date | str
    try:
        dob = date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        expected = "DOB/ NOT A REAL DATE"
    else:
        expected = dob if dob <= today else "DOB/ AFTER TODAY"
    try:
        parsed: date | str = parse_dob(value, today)
    except MessageError as exc:
        parsed = exc.detail
    assert parsed == expected


def test_format_ccyymmdd() -> None:
    assert format_ccyymmdd(date(1980, 1, 2)) == "19800102"
    assert format_ccyymmdd(date(5, 6, 7)) == "00050607"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ROBERT", "R163"),
        ("RUPERT", "R163"),
        ("ASHCRAFT", "A261"),
        ("ASHCROFT", "A261"),
        ("TYMCZAK", "T522"),
        ("PFISTER", "P236"),
        ("HONEYMAN", "H555"),
        ("RUBIN", "R150"),
        ("LEE", "L000"),
        ("GUTIERREZ", "G362"),
        ("JACKSON", "J250"),
        ("WASHINGTON", "W252"),
        ("Garcia", "G620"),
        ("O'BRIEN", "O165"),
        ("DE LA CRUZ", "D426"),
        ("SMITH-JONES", "S532"),
        ("A", "A000"),
    ],
)
def test_soundex(name: str, code: str) -> None:
    assert soundex(name) == code


@pytest.mark.parametrize("name", ["", "  ", "'-", "123", "\u00e9\u00e8"])
def test_soundex_of_a_name_without_letters(name: str) -> None:
    assert soundex(name) == "Z000"


@given(st.text(max_size=30))
def test_soundex_shape(name: str) -> None:
    code = soundex(name)
    assert len(code) == 4
    assert "A" <= code[0] <= "Z"
    assert code[1:].isdigit()
