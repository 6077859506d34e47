"""Sign-on, heartbeat and acknowledgement frames."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.control import (
    HEARTBEAT,
    Ack,
    Heartbeat,
    SignOn,
    format_ack,
    format_signon,
    format_signon_ok,
    format_signon_rejected,
    parse_control,
    parse_signon_reply,
)
from formats.errors import ErrorCode, MessageError

lines = st.from_regex(r"[A-Z]{2}", fullmatch=True)
keys = st.text(alphabet=[chr(c) for c in range(0x21, 0x7F)], min_size=1, max_size=64)
seqs = st.integers(0, 10**18 - 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SIGNON.CA.DEV-CA", SignOn("CA", "DEV-CA")),
        ("  SIGNON.TX.k3y!#$.x\r\n", SignOn("TX", "k3y!#$.x")),
        ("SIGNON.GU." + "K" * 64, SignOn("GU", "K" * 64)),
        ("HB", Heartbeat()),
        ("\r\nHB\r\n", Heartbeat()),
        (HEARTBEAT, Heartbeat()),
        ("ACK.0", Ack(0)),
        ("ACK.000123", Ack(123)),
        ("ACK.999999999999999999\n", Ack(999_999_999_999_999_999)),
    ],
)
def test_control_frames(text: str, expected: object) -> None:
    assert parse_control(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "IAQ.CA0000000.AX.TXT",
        "HBX.CA0000000.AX.TXT",
        "ACKS",
        "SIGNONS.CA.KEY",
        "AM.CA0000000.TX.TXT HB",
        "hb",
        "ack.1",
        "",
        "   ",
    ],
)
def test_messages_are_not_control_frames(text: str) -> None:
    assert parse_control(text) is None


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("SIGNON", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON.CA", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON.CA.", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON.C.KEY", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON.ca.KEY", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON.CA1.KEY", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON.CA.TWO WORDS", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON.CA." + "K" * 65, "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("SIGNON CA KEY", "SIGNON MUST BE SIGNON.<LINE>.<KEY>"),
        ("ACK", "ACK MUST BE ACK.<SEQ>"),
        ("ACK.", "ACK MUST BE ACK.<SEQ>"),
        ("ACK.X", "ACK MUST BE ACK.<SEQ>"),
        ("ACK.-1", "ACK MUST BE ACK.<SEQ>"),
        ("ACK.1.2", "ACK MUST BE ACK.<SEQ>"),
        ("ACK.\u0661", "ACK MUST BE ACK.<SEQ>"),
        ("ACK." + "9" * 5000, "ACK MUST BE ACK.<SEQ>"),
        ("HB.CA", "HB TAKES NO ARGUMENTS"),
        ("HB 1", "HB TAKES NO ARGUMENTS"),
    ],
)
def test_malformed_control_frames(text: str, detail: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_control(text)
    assert info.value.code == ErrorCode.FORMAT
    assert info.value.detail == detail


def test_formatters() -> None:
    assert format_signon("CA", "DEV-CA") == "SIGNON.CA.DEV-CA"
    assert format_ack(42) == "ACK.42"
    assert format_signon_ok("CA", 17) == "SIGNON OK CA 17"
    assert format_signon_rejected("BAD KEY") == "SIGNON REJECTED BAD KEY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SIGNON OK CA 17", (True, "CA", 17)),
        ("SIGNON OK TX 0\r\n", (True, "TX", 0)),
        ("SIGNON REJECTED BAD KEY", (False, "BAD KEY", 0)),
        ("SIGNON REJECTED", (False, "", 0)),
    ],
)
def test_parse_signon_reply(text: str, expected: tuple[bool, str, int]) -> None:
    assert parse_signon_reply(text) == expected


@pytest.mark.parametrize(
    "text", ["SIGNON OK", "SIGNON OK CA", "SIGNON OK CA X", "SIGNON OK C 1", "HB", ""]
)
def test_parse_signon_reply_rejects_other_text(text: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_signon_reply(text)
    assert info.value.code == ErrorCode.FORMAT


@given(lines, keys)
def test_signon_round_trip(line: str, key: str) -> None:
    assert parse_control(format_signon(line, key)) == SignOn(line, key)


@given(seqs)
def test_ack_round_trip(seq: int) -> None:
    assert parse_control(format_ack(seq)) == Ack(seq)


@given(lines, seqs)
def test_signon_ok_round_trip(line: str, last_ack: int) -> None:
    assert parse_signon_reply(format_signon_ok(line, last_ack)) == (True, line, last_ack)


@given(st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)], max_size=40).map(str.strip))
def test_signon_rejected_round_trip(reason: str) -> None:
    assert parse_signon_reply(format_signon_rejected(reason)) == (False, reason, 0)


@given(st.text(max_size=80) | st.from_regex(r"(SIGNON|HB|ACK)[\s\S]{0,20}", fullmatch=True))
def test_parse_control_only_raises_message_error(text: str) -> None:
    try:
        result = parse_control(text)
    except MessageError as exc:
        assert exc.code == ErrorCode.FORMAT
    else:
        assert result is None or isinstance(result, SignOn | Heartbeat | Ack)


@given(st.text(max_size=60) | st.from_regex(r"SIGNON (OK|REJECTED)[\s\S]{0,20}", fullmatch=True))
def test_parse_signon_reply_only_raises_message_error(text: str) -> None:
    try:
        accepted, _, last_ack = parse_signon_reply(text)
    except MessageError as exc:
        assert exc.code == ErrorCode.FORMAT
    else:
        assert accepted or last_ack == 0
