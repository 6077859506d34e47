"""The ``--since`` parser shared by ``iaqgw tail`` and ``iaqgw audit`` (formats/times.py)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.times import SINCE_FORMS, TimeError, parse_iso, parse_since

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)

# Offsets a zone can have: whole minutes strictly inside a day.
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Not the first and last day of the calendar, where a zone can push UTC out of range.
moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW - timedelta(seconds=30)),
        ("10m", NOW - timedelta(minutes=10)),
        ("2h", NOW - timedelta(hours=2)),
        ("3d", NOW - timedelta(days=3)),
        ("1.5h", NOW - timedelta(minutes=90)),
        (" 10m ", NOW - timedelta(minutes=10)),
        ("2026-12-01T20:03:00-05:00", datetime(2026, 12, 2, 1, 3, tzinfo=UTC)),
        ("2026-12-01T20:03:00+00:00", datetime(2026, 12, 1, 20, 3, tzinfo=UTC)),
        ("2026-12-01T20:03:00Z", datetime(2026, 12, 1, 20, 3, tzinfo=UTC)),
        ("2026-12-01T20:03", datetime(2026, 12, 1, 20, 3, tzinfo=UTC)),
        ("2026-12-01 20:03:00.250", datetime(2026, 12, 1, 20, 3, 0, 250000, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_since(text: str, expected: datetime) -> None:
    moment = parse_since(text, NOW)
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["garbage", "", "10", "m", "10x", "10 m", "-10m", "10M", "2026-13-01", "2026-12-01T25:00",
     # Digits of other scripts: Arabic-Indic "10m", a full-width date.
     "\u0661\u0660m", "\uff12\uff10\uff12\uff16-\uff11\uff12-\uff10\uff11",
     "999999999d", "0001-01-01T00:00:00+05:00", "yesterday"],
)
def test_not_a_time(text: str) -> None:
    with pytest.raises(TimeError) as caught:
        parse_since(text, NOW)
    assert "\n" not in str(caught.value)


def test_error_says_what_to_write() -> None:
    with pytest.raises(TimeError, match="'garbage' is not a time: write an ISO time"):
        parse_since("garbage", NOW)
    assert "UTC unless it names a zone" in SINCE_FORMS


@given(moments, offsets)
def test_zoned_iso_round_trip(moment: datetime, zone: timezone) -> None:
    zoned = moment.replace(tzinfo=zone)
    for text in (zoned.isoformat(), zoned.isoformat(sep=" "), zoned.isoformat("T", "seconds")):
        parsed = parse_since(text, NOW)
        assert parsed == datetime.fromisoformat(text)
        assert parsed.tzinfo is UTC


@given(moments)
def test_time_without_zone_is_utc(moment: datetime) -> None:
    assert parse_iso(moment.isoformat()) == moment.replace(tzinfo=UTC)
    assert parse_since(moment.isoformat(timespec="milliseconds"), NOW) == moment.replace(
        microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC
    )


@given(st.integers(0, 10**5), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]))
def test_ages_count_back_from_now(amount: int, unit: tuple[str, int]) -> None:
    assert parse_since(f"{amount}{unit[0]}", NOW) == NOW - timedelta(seconds=amount * unit[1])


@given(st.text())
def test_any_text_is_a_time_or_a_time_error(text: str) -> None:
    try:
        moment = parse_since(text, NOW)
    except TimeError as exc:
        assert str(exc)
    else:
        assert moment.tzinfo is UTC
