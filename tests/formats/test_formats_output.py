"""Output header, ER and SM bodies."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from readings import reading

from formats.errors import ERROR_TEXT, ErrorCode, MessageError
from formats.notices import SM_FORWARD, format_er_body, format_sm_body, parse_er_body
from formats.output import (
    SEQ_WRAP,
    OutputMessage,
    _parse_output_by_line,
    format_output,
    parse_output,
)

IN_TIME = datetime(2026, 5, 9, 14, 3, 59)
OUT_TIME = datetime(2026, 5, 9, 14, 4, 1)


BASE = OutputMessage(
    mke="AM",
    sender="VTINS07S0",
    in_time=IN_TIME,
    in_seq=42,
    out_time=OUT_TIME,
    out_seq=7,
    dest="CA0340000",
    control=None,
    body="LESC ACKNOWLEDGES RECEIPT OF IAQ.",
)


def output(**changes: Any) -> OutputMessage:
    """The AM output with some fields changed."""
    return replace(BASE, **changes)


def test_format_output() -> None:
    assert format_output(output()) == (
        "AM.VTINS07S0\n"
        "14:03 05/09/2026 00042\n"
        "14:04 05/09/2026 00007 CA0340000\n"
        "TXT\n"
        "LESC ACKNOWLEDGES RECEIPT OF IAQ."
    )


def test_format_output_with_control_and_wrapped_sequences() -> None:
    text = format_output(output(control="CA12345", in_seq=123_456, out_seq=SEQ_WRAP))
    assert text.split("\n")[1:3] == [
        "14:03 05/09/2026 23456",
        "14:04 05/09/2026 00000 CA0340000 *CA12345",
    ]


def test_format_output_with_line_code_destination_and_empty_body() -> None:
    text = format_output(output(dest="CA", body=""))
    assert text.endswith("00007 CA\nTXT\n")
    assert parse_output(text).body == ""


def test_aware_times_are_printed_as_given() -> None:
    eastern = timezone(timedelta(hours=-5))
    text = format_output(output(in_time=datetime(2026, 1, 2, 3, 4, tzinfo=eastern)))
    assert text.split("\n")[1] == "03:04 01/02/2026 00042"
    assert parse_output(text).in_time == datetime(2026, 1, 2, 3, 4)


def test_the_same_instant_in_two_zones_prints_each_clock() -> None:
    # The clock text is formatted once per moment (issue 13); equal instants of two zones
    # still print their own clocks.
    utc = datetime(2026, 1, 2, 8, 4, tzinfo=UTC)
    eastern = utc.astimezone(timezone(timedelta(hours=-5)))
    assert utc == eastern
    texts = [format_output(output(in_time=moment)) for moment in (utc, eastern, utc)]
    assert [text.split("\n")[1][:5] for text in texts] == ["08:04", "03:04", "08:04"]


def test_parse_output() -> None:
    msg = output(control="X-1", body="LINE 1\nLINE 2\n")
    assert parse_output(format_output(msg)) == output(
        control="X-1",
        body="LINE 1\nLINE 2\n",
        in_time=datetime(2026, 5, 9, 14, 3),
        out_time=datetime(2026, 5, 9, 14, 4),
    )


def test_parse_output_accepts_crlf_header_lines() -> None:
    text = format_output(output(body="B\r\nC")).replace("\n", "\r\n", 4)
    msg = parse_output(text)
    assert (msg.mke, msg.dest, msg.body) == ("AM", "CA0340000", "B\r\nC")


def test_parse_output_without_trailing_line_break() -> None:
    assert parse_output("AM.NL0000000\n00:00 01/01/2026 00001\n00:00 01/01/2026 00002 CA\nTXT") \
        .body == ""


@pytest.mark.parametrize(
    ("text", "code", "detail"),
    [
        ("AM.NL0000000", ErrorCode.FORMAT, "OUTPUT HEADER SHORTER THAN 4 LINES"),
        ("AM NL0000000\n00:00 01/01/2026 00001\n00:00 01/01/2026 00002 CA\nTXT\n",
         ErrorCode.FORMAT, "OUTPUT LINE 1 MUST BE MKE.SENDERORI"),
        ("AM.NL0000000\n0:00 01/01/2026 00001\n00:00 01/01/2026 00002 CA\nTXT\n",
         ErrorCode.FORMAT, "OUTPUT LINE 2 MUST BE HH:MM MM/DD/CCYY NNNNN"),
        ("AM.NL0000000\n00:00 01/01/2026 00001\n00:00 01/01/2026 2 CA\nTXT\n",
         ErrorCode.FORMAT, "OUTPUT LINE 3 MUST BE HH:MM MM/DD/CCYY NNNNN DEST[ *CONTROL]"),
        ("AM.NL0000000\n00:00 01/01/2026 00001\n00:00 01/01/2026 00002 CA *\nTXT\n",
         ErrorCode.FORMAT, "OUTPUT LINE 3 MUST BE HH:MM MM/DD/CCYY NNNNN DEST[ *CONTROL]"),
        ("AM.NL0000000\n25:00 01/01/2026 00001\n00:00 01/01/2026 00002 CA\nTXT\n",
         ErrorCode.FORMAT, "OUTPUT LINE 2 HOLDS NO REAL DATE AND TIME"),
        ("AM.NL0000000\n00:00 01/01/2026 00001\n00:00 02/30/2026 00002 CA\nTXT\n",
         ErrorCode.FORMAT, "OUTPUT LINE 3 HOLDS NO REAL DATE AND TIME"),
        ("AM.NL0000000\n00:00 01/01/0000 00001\n00:00 01/01/2026 00002 CA\nTXT\n",
         ErrorCode.FORMAT, "OUTPUT LINE 2 HOLDS NO REAL DATE AND TIME"),
        ("AM.NL0000000\n00:00 01/01/2026 00001\n00:00 01/01/2026 00002 CA\nTEXT\n",
         ErrorCode.TXT_NOT_FOUND, "OUTPUT LINE 4 MUST BE TXT"),
    ],
)
def test_parse_output_faults(text: str, code: ErrorCode, detail: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_output(text)
    assert (info.value.code, info.value.detail) == (code, detail)


moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59),
    timezones=st.sampled_from([None, UTC]),
)
printable = [chr(c) for c in range(0x20, 0x7F)]


@given(
    st.from_regex(r"[A-Z]{2,3}", fullmatch=True),
    st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}", fullmatch=True),
    moments, st.integers(0, 10**9), moments, st.integers(0, 10**9),
    st.from_regex(r"[A-Z0-9]{2,9}", fullmatch=True),
    st.none() | st.from_regex(r"[A-Z0-9-]{1,10}", fullmatch=True),
    st.text(alphabet=[*printable, "\n", "\r"], max_size=60),
)
def test_output_round_trip(
    mke: str, sender: str, in_time: datetime, in_seq: int, out_time: datetime, out_seq: int,
    dest: str, control: str | None, body: str,
) -> None:
    msg = OutputMessage(mke, sender, in_time, in_seq, out_time, out_seq, dest, control, body)
    assert parse_output(format_output(msg)) == OutputMessage(
        mke, sender, to_minute(in_time), in_seq % SEQ_WRAP,
        to_minute(out_time), out_seq % SEQ_WRAP, dest, control, body,
    )


def to_minute(moment: datetime) -> datetime:
    """What the header keeps of a clock: naive, to the minute."""
    return moment.replace(second=0, microsecond=0, tzinfo=None)


@given(st.text(max_size=150) | st.text(alphabet="AM.NL0\n:/ 12TXT*", max_size=80))
def test_parse_output_only_raises_message_error(text: str) -> None:
    try:
        msg = parse_output(text)
    except MessageError as exc:
        assert exc.code in {ErrorCode.FORMAT, ErrorCode.TXT_NOT_FOUND}
    else:
        assert 0 <= msg.in_seq < SEQ_WRAP


# The pieces of an output's text: each piece's usual value first, then values near it.
output_pieces = {
    "first": ["AM.VTINS07S0", "IAR.VTINS07S0", "AM.vtins07s0", "AMVTINS07S0", "A.CA00"],
    "in_clock": ["14:03 05/09/2026", "00:00 01/01/0001", "23:59 12/31/9999", "24:00 01/01/2026",
                 "00:60 01/01/2026", "00:00 02/29/2025", "00:00 02/29/2024",
                 "00:00 13/01/2026", "00:00 01/01/0000", "0:00 01/01/2026", "00:00  01/01/2026"],
    "in_seq": ["00042", "99999", "4", "000042", "0004A"],
    "out_clock": ["14:04 05/09/2026", "24:00 01/01/2026", "00:00 02/30/2026", "00:00 1/01/2026"],
    "out_seq": ["00007", "00000", "7", "0000007"],
    "dest": [" CA0340000", " CA", " CA *B1", " CA *", " CA *ABCDEFGHIJK", "CA", " C", " CA "],
    "txt": ["TXT", "TEXT", "TXT ", "TXT\r", "txt"],
    "end1": ["\n", "\r\n", "\r\r\n", "\n\r", " \n", "\r"],
    "end2": ["\n", "\r\n", "\r\r\n", " \n", "\r"],
    "end3": ["\n", "\r\n", "\r\r\n", " \n"],
    "end4": ["\n", "\r\n", "\r\r\n", "\r", "\n\n", ""],
    "body": ["BODY.", "", "LINE 1.\r\nLINE 2."],
}


@st.composite
def near_outputs(draw: st.DrawFn) -> str:
    """An output's text with its usual pieces but at most two near ones."""
    pieces = {name: values[0] for name, values in output_pieces.items()}
    for name in draw(st.lists(st.sampled_from([*output_pieces]), max_size=2)):
        pieces[name] = draw(st.sampled_from(output_pieces[name]))
    return (
        f"{pieces['first']}{pieces['end1']}{pieces['in_clock']} {pieces['in_seq']}"
        f"{pieces['end2']}{pieces['out_clock']} {pieces['out_seq']}{pieces['dest']}"
        f"{pieces['end3']}{pieces['txt']}{pieces['end4']}{pieces['body']}"
    )


@given(near_outputs())
def test_one_match_and_line_by_line_readings_agree(text: str) -> None:
    """parse_output reads the header in one match where it can; never otherwise than the
    line-by-line reading."""
    assert reading(parse_output, text) == reading(_parse_output_by_line, text)


# ER and SM


def test_format_er_body() -> None:
    original = "IAQ.CA0340000.AX.TXT\n" + "PUR/X." * 30
    body = format_er_body(ErrorCode.FIELD, "PUR/ MUST BE C OR F", original)
    assert body == (
        ".22. INVALID MESSAGE FORMAT\nPUR/ MUST BE C OR F\nORIGINAL MESSAGE\n" + original[:100]
    )
    assert parse_er_body(body) == (ErrorCode.FIELD, "PUR/ MUST BE C OR F", original[:100])


def test_er_body_for_format_error() -> None:
    body = format_er_body(ErrorCode.FORMAT, "NO VALID HEADER", "")
    assert body == "0 MESSAGE FORMAT/STRUCTURE ERROR\nNO VALID HEADER\nORIGINAL MESSAGE\n"


def test_er_detail_is_kept_on_one_line() -> None:
    body = format_er_body(ErrorCode.HEADER, "TWO\nLINES\rHERE", "X")
    assert parse_er_body(body) == (ErrorCode.HEADER, "TWO LINES HERE", "X")


@pytest.mark.parametrize(
    "body",
    [
        "",
        ".22. INVALID MESSAGE FORMAT\nDETAIL",
        ".22. INVALID MESSAGE FORMAT\nDETAIL\nORIGINAL TEXT\nX",
        ".99. UNKNOWN\nDETAIL\nORIGINAL MESSAGE\nX",
        ".22. TXT NOT FOUND\nDETAIL\nORIGINAL MESSAGE\nX",
    ],
)
def test_parse_er_body_faults(body: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_er_body(body)
    assert info.value.code == ErrorCode.FORMAT


@given(
    st.sampled_from(list(ErrorCode)),
    st.text(alphabet=printable, max_size=60),
    st.text(alphabet=[*printable, "\n", "\r"], max_size=150),
)
def test_er_body_round_trip(code: ErrorCode, detail: str, original: str) -> None:
    body = format_er_body(code, detail, original)
    assert body.startswith(f"{code} {ERROR_TEXT[code]}\n")
    assert parse_er_body(body) == (code, detail, original[:100])


@given(st.text(max_size=150))
def test_parse_er_body_only_raises_message_error(body: str) -> None:
    try:
        code, _, original = parse_er_body(body)
    except MessageError as exc:
        assert exc.code == ErrorCode.FORMAT
    else:
        assert code in ERROR_TEXT
        assert isinstance(original, str)


def test_sm_body() -> None:
    assert format_sm_body("TX0000000") == (
        ".02. USER OUT OF SERVICE FOR MSG TYPE, NLETS WILL FORWARD\nDESTINATION TX0000000"
    )
    assert format_sm_body("TX").startswith(SM_FORWARD + "\n")
