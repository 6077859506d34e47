"""STX/ETX framing: frames, resynchronisation, oversize and charset faults."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.errors import ErrorCode, MessageError
from formats.framing import (
    DEFAULT_MAX_TEXT,
    ETX,
    STX,
    BadFrame,
    Frame,
    FrameDecoder,
    decode_text,
    encode_frame,
    encode_frames,
    encode_text,
)

CHARSET = "".join(chr(c) for c in range(0x20, 0x7F)) + "\r\n"
texts = st.text(alphabet=CHARSET, max_size=60)


def test_constants() -> None:
    assert (STX, ETX, DEFAULT_MAX_TEXT) == (0x02, 0x03, 16_384)


def test_encode_frame_wraps_text() -> None:
    assert encode_frame("HB") == b"\x02HB\x03"
    assert encode_frame("") == b"\x02\x03"


@pytest.mark.parametrize("text", ["\x02", "A\x03B", "CAF\u00c9", "TAB\tHERE", "\x7f"])
def test_encode_frame_rejects_text_outside_charset(text: str) -> None:
    with pytest.raises(MessageError) as info:
        encode_frame(text)
    assert info.value.code == ErrorCode.FORMAT


def test_one_frame() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x02IAQ.CA0000000.AX.TXT\r\nPUR/C.\x03") == [
        Frame("IAQ.CA0000000.AX.TXT\r\nPUR/C.")
    ]
    assert decoder.buffered == 0


def test_bytes_outside_frames_are_discarded() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"noise\x03\xff\x02A\x03junk\x02B\x03tail") == [Frame("A"), Frame("B")]
    assert decoder.buffered == 0


def test_partial_frame_is_buffered_until_etx() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"xx\x02HEL") == []
    assert decoder.buffered == 3
    assert decoder.feed(b"LO") == []
    assert decoder.buffered == 5
    assert decoder.feed(b"\x03") == [Frame("HELLO")]
    assert decoder.buffered == 0


def test_stx_inside_open_frame_restarts_it() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x02PARTIAL\x02WHOLE\x03") == [Frame("WHOLE")]
    assert decoder.feed(b"\x02ONE") == []
    assert decoder.feed(b"\x02TWO\x03") == [Frame("TWO")]


def test_empty_frame_is_an_empty_text() -> None:
    assert FrameDecoder().feed(b"\x02\x03") == [Frame("")]


@pytest.mark.parametrize("bad", [b"\x00", b"\x7f", b"\x80", b"\xff", b"\t", b"\x1b", b"\x04"])
def test_byte_outside_charset_gives_bad_frame(bad: bytes) -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x02AB" + bad + b"CD\x03\x02OK\x03") == [
        BadFrame("charset", b"AB" + bad + b"CD"),
        Frame("OK"),
    ]


def test_charset_bad_frame_keeps_first_100_bytes() -> None:
    raw = b"\xff" * 150
    (bad,) = FrameDecoder().feed(b"\x02" + raw + b"\x03")
    assert bad == BadFrame("charset", raw[:100])


def test_frame_of_exactly_max_text_is_accepted() -> None:
    decoder = FrameDecoder(max_text=10)
    assert decoder.feed(b"\x02" + b"A" * 10 + b"\x03") == [Frame("A" * 10)]


def test_oversize_frame_reported_once_then_discarded_until_next_stx() -> None:
    decoder = FrameDecoder(max_text=10)
    out = decoder.feed(b"\x02" + b"0123456789ABC")
    assert out == [BadFrame("oversize", b"0123456789A")]
    assert decoder.buffered == 0
    # The rest of the oversized frame, its ETX and anything up to the next STX are dropped.
    assert decoder.feed(b"MORE" * 10 + b"\x03trailing") == []
    assert decoder.feed(b"\x02NEXT\x03") == [Frame("NEXT")]


def test_oversize_raw_is_at_most_100_bytes_across_chunks() -> None:
    decoder = FrameDecoder(max_text=150)
    assert decoder.feed(b"\x02" + b"A" * 120) == []
    assert decoder.buffered == 120
    (bad,) = decoder.feed(b"B" * 100)
    assert bad == BadFrame("oversize", b"A" * 100)
    assert decoder.buffered == 0


def test_oversize_frame_followed_by_stx_restarts() -> None:
    decoder = FrameDecoder(max_text=4)
    assert decoder.feed(b"\x02TOOLONG\x02OK\x03") == [
        BadFrame("oversize", b"TOOLO"),
        Frame("OK"),
    ]


def test_default_maximum_is_16384() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x02" + b"A" * DEFAULT_MAX_TEXT + b"\x03") == [
        Frame("A" * DEFAULT_MAX_TEXT)
    ]
    (bad,) = decoder.feed(b"\x02" + b"A" * (DEFAULT_MAX_TEXT + 1) + b"\x03")
    assert isinstance(bad, BadFrame)
    assert bad.reason == "oversize"


def test_max_text_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_text=0)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[str], bytes, list[int]]:
    """Valid frames with junk between them and cut points for feeding."""
    frames = draw(st.lists(texts, max_size=8))
    junk = st.binary(max_size=10).map(lambda b: b.replace(b"\x02", b""))
    stream = b"".join(draw(junk) + encode_frame(text) for text in frames) + draw(junk)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    return frames, stream, cuts


@given(streams())
def test_encode_decode_round_trip_at_any_chunk_boundary(
    case: tuple[list[str], bytes, list[int]],
) -> None:
    frames, stream, cuts = case
    decoder = FrameDecoder(max_text=60)
    out: list[Frame | BadFrame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out.extend(decoder.feed(stream[start:end]))
    assert out == [Frame(text) for text in frames]
    assert decoder.buffered == 0


@given(st.lists(st.binary(max_size=200), max_size=10), st.integers(1, 120))
def test_arbitrary_bytes_never_raise_and_respect_limits(chunks: list[bytes], limit: int) -> None:
    decoder = FrameDecoder(max_text=limit)
    for chunk in chunks:
        for item in decoder.feed(chunk):
            if isinstance(item, Frame):
                assert len(item.text) <= limit
                assert all(ch in CHARSET for ch in item.text)
            else:
                assert item.reason in ("oversize", "charset")
                assert len(item.raw) <= 100
        assert decoder.buffered <= limit


@given(st.binary(max_size=300))
def test_feeding_byte_by_byte_equals_feeding_at_once(stream: bytes) -> None:
    whole = FrameDecoder(max_text=50).feed(stream)
    single = FrameDecoder(max_text=50)
    pieces: list[Frame | BadFrame] = []
    for index in range(len(stream)):
        pieces.extend(single.feed(stream[index : index + 1]))
    assert pieces == whole


def frames_by_rule(stream: bytes, limit: int) -> list[Frame | BadFrame]:
    """SPEC.md §2 byte by byte: the oracle the decoder's search for delimiters must meet."""
    out: list[Frame | BadFrame] = []
    text: bytearray | None = None  # None outside a frame
    for byte in stream:
        if byte == STX:
            text = bytearray()
        elif text is None:
            continue
        elif byte == ETX:
            raw = bytes(text)
            ok = all(0x20 <= b < 0x7F or b in b"\r\n" for b in raw)
            out.append(Frame(raw.decode()) if ok else BadFrame("charset", raw[:100]))
            text = None
        elif len(text) == limit:
            out.append(BadFrame("oversize", bytes(text + bytes([byte]))[:100]))
            text = None
        else:
            text.append(byte)
    return out


@given(
    st.lists(st.sampled_from([b"\x02", b"\x03", b"A", b"\n", b"\x00", b"AB" * 7]), max_size=60),
    st.integers(1, 40),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_frames_follow_the_framing_rules_at_any_cut(
    pieces: list[bytes], limit: int, cuts: list[int]
) -> None:
    stream = b"".join(pieces)
    decoder = FrameDecoder(max_text=limit)
    out: list[Frame | BadFrame] = []
    bounds = sorted(min(cut, len(stream)) for cut in cuts)
    for start, end in zip([0, *bounds], [*bounds, len(stream)], strict=True):
        out.extend(decoder.feed(stream[start:end]))
    assert out == frames_by_rule(stream, limit)


@given(st.binary(max_size=120), st.integers(1, 100))
def test_a_payload_is_read_as_the_text_of_one_frame(raw: bytes, limit: int) -> None:
    framed = FrameDecoder(max_text=limit).feed(b"\x02" + raw + b"\x03")
    if b"\x02" not in raw and b"\x03" not in raw:
        assert [decode_text(raw, limit)] == framed
    else:
        item = decode_text(raw, limit)
        assert isinstance(item, BadFrame)
        assert item.reason == ("oversize" if len(raw) > limit else "charset")


@given(st.lists(texts, max_size=5))
def test_encode_frames_is_the_frames_one_after_another(batch: list[str]) -> None:
    assert encode_frames(batch) == b"".join(encode_frame(text) for text in batch)


@given(texts)
def test_encode_text_is_the_frame_without_stx_etx(text: str) -> None:
    assert b"\x02" + encode_text(text) + b"\x03" == encode_frame(text)
    assert decode_text(encode_text(text)) == Frame(text)


# The charset rule as a regular expression: the checks by table must agree with it.
OUTSIDE = re.compile("[^\x20-\x7e\r\n]")


@given(st.text(max_size=80) | st.text(alphabet=CHARSET + "\x00\x02\x03\x7f\x80\u00c9", max_size=80))
def test_encode_text_refuses_exactly_what_leaves_the_charset(text: str) -> None:
    if OUTSIDE.search(text) is None:
        assert encode_text(text) == text.encode("ascii")
    else:
        with pytest.raises(MessageError):
            encode_text(text)


@given(st.binary(max_size=80))
def test_decode_text_refuses_exactly_what_leaves_the_charset(raw: bytes) -> None:
    outside = OUTSIDE.search(raw.decode("latin-1")) is not None
    assert decode_text(raw) == (BadFrame("charset", raw[:100]) if outside
                                else Frame(raw.decode("ascii")))


@given(
    st.lists(st.binary(max_size=30) | texts.map(str.encode), max_size=12),
    st.integers(1, 40),
)
def test_frames_back_to_back_in_one_read_follow_the_rules(frames: list[bytes], limit: int) -> None:
    # A read that starts with STX and ends with ETX takes the decoder's split at ETX STX; any
    # frame that split cannot take (a delimiter inside, too long) sends the read the long way.
    stream = b"".join(b"\x02" + frame + b"\x03" for frame in frames)
    assert FrameDecoder(max_text=limit).feed(stream) == frames_by_rule(stream, limit)
