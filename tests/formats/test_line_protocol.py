"""The sans-IO line protocol: sign-on states, events both ways, stream and payload forms."""

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.framing import encode_frame
from formats.line_protocol import (
    BAD_FRAME_DETAIL,
    Ack,
    Event,
    Heartbeat,
    Input,
    LineProtocol,
    LineProtocolError,
    Output,
    Received,
    Role,
    SignOnAccepted,
    SignOnRefused,
    SignOnRequest,
    State,
    Unreadable,
    Violation,
)
from formats.output import SEQ_WRAP, OutputMessage, format_output

CHARSET = "".join(chr(c) for c in range(0x20, 0x7F)) + "\r\n"
KEY = "S3CRET-KEY"
AM = "AM.CA0000000.TX0000000.TXT HELLO"


def gateway(max_text: int = 16_384) -> LineProtocol:
    return LineProtocol(Role.GATEWAY, max_text=max_text)


def signed_on_gateway() -> LineProtocol:
    protocol = gateway()
    assert protocol.receive_data(encode_frame(f"SIGNON.CA.{KEY}")) == [SignOnRequest("CA", KEY)]
    protocol.send(SignOnAccepted("CA", 0))
    return protocol


def signed_on_line(last_ack: int = 0) -> LineProtocol:
    protocol = LineProtocol(Role.LINE)
    protocol.send(SignOnRequest("CA", KEY))
    reply = protocol.receive_data(encode_frame(f"SIGNON OK CA {last_ack}"))
    assert reply == [SignOnAccepted("CA", last_ack)]
    return protocol


def output_text(seq: int, body: str = "HELLO") -> str:
    moment = datetime(2026, 5, 9, 14, 3)
    return format_output(
        OutputMessage("AM", "TX0000000", moment, 1, moment, seq, "CA0000000", None, body)
    )


def drive(protocol: LineProtocol, chunks: list[bytes]) -> list[Event]:
    """Feed chunks as a gateway session would, accepting every sign-on at once."""
    events: list[Event] = []
    for chunk in chunks:
        for event in protocol.receive_data(chunk):
            events.append(event)
            if isinstance(event, SignOnRequest):
                protocol.send(SignOnAccepted(event.line, 0))
                events.extend(protocol.held_events())
            elif isinstance(event, Violation):
                protocol.send(SignOnRefused(event.reason))
    return events


# sign-on, gateway side


def test_first_frame_signon_is_a_request_and_later_frames_wait_for_the_answer() -> None:
    protocol = gateway()
    stream = encode_frame(f"SIGNON.CA.{KEY}") + encode_frame(AM) + encode_frame("ACK.3")
    assert protocol.receive_data(stream) == [SignOnRequest("CA", KEY)]
    assert protocol.state is State.VERIFYING
    assert protocol.receive_data(encode_frame("HB")) == []
    with pytest.raises(LineProtocolError):
        protocol.held_events()
    assert protocol.send(SignOnAccepted("CA", 7)) == encode_frame("SIGNON OK CA 7")
    assert (protocol.state, protocol.line) == (State.SIGNED_ON, "CA")
    assert protocol.held_events() == [Input(AM), Ack(3), Heartbeat(probe=True)]
    assert protocol.held_events() == []


def test_refused_signon_drops_held_frames_and_closes() -> None:
    protocol = gateway()
    protocol.receive_data(encode_frame(f"SIGNON.CA.{KEY}") + encode_frame(AM))
    assert protocol.send(SignOnRefused("INVALID KEY")) == encode_frame(
        "SIGNON REJECTED INVALID KEY"
    )
    assert protocol.state is State.CLOSED
    assert protocol.held_events() == []
    assert protocol.receive_data(encode_frame(AM)) == []
    with pytest.raises(LineProtocolError):
        protocol.send(Output(AM))


@pytest.mark.parametrize(
    "first",
    [
        encode_frame(AM),
        encode_frame("HB"),
        encode_frame("ACK.1"),
        encode_frame("SIGNON.CA"),
        encode_frame("SIGNON OK CA 0"),
        b"\x02CAF\xc9\x03",
        b"\x02" + b"A" * 100 + b"\x03",
    ],
)
def test_any_other_first_frame_is_a_violation(first: bytes) -> None:
    protocol = gateway(max_text=64)
    events = protocol.receive_data(first + encode_frame(f"SIGNON.CA.{KEY}"))
    assert events == [Violation("SIGNON REQUIRED")]
    with pytest.raises(LineProtocolError):
        protocol.send(SignOnAccepted("CA", 0))
    assert protocol.send(SignOnRefused("SIGNON REQUIRED")) == encode_frame(
        "SIGNON REJECTED SIGNON REQUIRED"
    )
    assert protocol.held_events() == []


def test_only_the_line_that_asked_is_accepted() -> None:
    protocol = gateway()
    protocol.receive_data(encode_frame(f"SIGNON.CA.{KEY}"))
    with pytest.raises(LineProtocolError, match="TX"):
        protocol.send(SignOnAccepted("TX", 0))
    assert protocol.state is State.VERIFYING


def test_signon_request_repr_never_shows_the_key() -> None:
    (request,) = gateway().receive_data(encode_frame(f"SIGNON.CA.{KEY}"))
    assert KEY not in repr(request)
    assert KEY not in str(request)


# a signed-on line, gateway side


@pytest.mark.parametrize(
    ("text", "event"),
    [
        (AM, Input(AM)),
        ("ACK.12", Ack(12)),
        (" ACK.12\r\n", Ack(12)),
        ("ACK.X", Input("ACK.X", "ACK MUST BE ACK.<SEQ>")),
        ("HB 1", Input("HB 1", "HB TAKES NO ARGUMENTS")),
        (f"SIGNON.CA.{KEY}", Input("SIGNON.CA.KEY WITHHELD", "ALREADY SIGNED ON")),
        ("SIGNON.CA", Input("SIGNON.CA.KEY WITHHELD", "SIGNON MUST BE SIGNON.<LINE>.<KEY>")),
        (f"SIGNON.CA.{KEY} MORE", Input("SIGNON.CA.KEY WITHHELD",
                                        "SIGNON MUST BE SIGNON.<LINE>.<KEY>")),
    ],
)
def test_signed_on_frames(text: str, event: Event) -> None:
    assert signed_on_gateway().receive_data(encode_frame(text)) == [event]


def test_bad_frames_are_inputs_with_the_er_0_detail_and_no_key() -> None:
    protocol = gateway(max_text=40)
    drive(protocol, [encode_frame(f"SIGNON.CA.{KEY}")])
    charset = b"\x02SIGNON.CA." + KEY.encode() + b"\xff\x03"
    oversize = encode_frame("AM." + "X" * 60)
    assert protocol.receive_data(charset + oversize) == [
        Input("SIGNON.CA.KEY WITHHELD", BAD_FRAME_DETAIL["charset"]),
        Input("AM." + "X" * 38, BAD_FRAME_DETAIL["oversize"]),
    ]


def test_heartbeat_answered_unless_it_answers_our_probe() -> None:
    protocol = signed_on_gateway()
    assert protocol.receive_data(encode_frame("HB")) == [Heartbeat(probe=True)]
    assert not protocol.probe_outstanding
    assert protocol.send(Heartbeat(probe=True)) == encode_frame("HB")
    assert protocol.probe_outstanding
    assert protocol.receive_data(encode_frame("HB") * 2) == [
        Heartbeat(probe=False),
        Heartbeat(probe=True),
    ]
    assert not protocol.probe_outstanding


def test_mqtt_line_is_signed_on_by_the_broker_and_payloads_follow_the_framing_rules() -> None:
    protocol = LineProtocol(Role.GATEWAY, max_text=20, line="CA")
    assert (protocol.state, protocol.line) == (State.SIGNED_ON, "CA")
    assert protocol.receive_payload(b"ACK.4") == [Ack(4)]
    assert protocol.receive_payload(b"AM.X") == [Input("AM.X")]
    assert protocol.receive_payload(b"SIGNON.CA.K") == [
        Input("SIGNON.CA.KEY WITHHELD", "ALREADY SIGNED ON")
    ]
    assert protocol.receive_payload(b"A\x02B\x03") == [
        Input("A?B?", BAD_FRAME_DETAIL["charset"])
    ]
    assert protocol.receive_payload(b"B" * 30) == [
        Input("B" * 21, BAD_FRAME_DETAIL["oversize"])
    ]
    with pytest.raises(LineProtocolError):
        protocol.receive_payload(b"ACK.4", seq=4)


# the line side


def test_line_signs_on_and_reads_outputs_with_the_wrap_resolved() -> None:
    protocol = LineProtocol(Role.LINE)
    with pytest.raises(LineProtocolError):
        protocol.send(Input(AM))
    assert protocol.send(SignOnRequest("CA", KEY)) == encode_frame(f"SIGNON.CA.{KEY}")
    assert protocol.state is State.VERIFYING
    stream = encode_frame("SIGNON OK CA 99999") + encode_frame(output_text(0)) + encode_frame("HB")
    events = protocol.receive_data(stream)
    assert events[0] == SignOnAccepted("CA", 99_999)
    assert isinstance(events[1], Received)
    assert (events[1].seq, events[1].message.body) == (100_000, "HELLO")
    assert events[2] == Heartbeat(probe=True)
    assert protocol.send(Ack(100_000)) == encode_frame("ACK.100000")


@pytest.mark.parametrize(
    ("answer", "event"),
    [
        ("SIGNON REJECTED INVALID KEY", SignOnRefused("INVALID KEY")),
        ("HELLO", Violation("SIGNON REPLY MUST BE SIGNON OK OR SIGNON REJECTED")),
    ],
)
def test_line_refused_or_answered_wrongly_is_closed(answer: str, event: Event) -> None:
    protocol = LineProtocol(Role.LINE)
    protocol.send(SignOnRequest("CA", KEY))
    assert protocol.receive_data(encode_frame(answer) + encode_frame(output_text(1))) == [event]
    assert protocol.state is State.CLOSED


def test_line_reports_frames_it_cannot_read() -> None:
    protocol = LineProtocol(Role.LINE, max_text=30)
    protocol.send(SignOnRequest("CA", KEY))
    assert protocol.receive_data(b"\x02\xff\x03") == [Unreadable(BAD_FRAME_DETAIL["charset"])]
    assert protocol.state is State.VERIFYING
    protocol.receive_data(encode_frame("SIGNON OK CA 0"))
    assert protocol.receive_data(encode_frame("NOT AN OUTPUT")) == [
        Unreadable("OUTPUT HEADER SHORTER THAN 4 LINES")
    ]
    assert protocol.receive_data(encode_frame("X" * 31)) == [
        Unreadable(BAD_FRAME_DETAIL["oversize"])
    ]


def test_mqtt_output_carries_its_full_number() -> None:
    protocol = LineProtocol(Role.LINE, line="CA")
    (first,) = protocol.receive_payload(output_text(200_005).encode(), seq=200_005)
    assert isinstance(first, Received) and first.seq == 200_005
    # A redelivered earlier output keeps its own number and does not move the wrap base.
    (again,) = protocol.receive_payload(output_text(3).encode(), seq=3)
    assert isinstance(again, Received) and again.seq == 3
    (unnumbered,) = protocol.receive_payload(output_text(200_006).encode())
    assert isinstance(unnumbered, Received) and unnumbered.seq == 200_006


# misuse


@pytest.mark.parametrize(
    ("role", "event"),
    [
        (Role.GATEWAY, Input(AM)),
        (Role.GATEWAY, Ack(1)),
        (Role.GATEWAY, SignOnRequest("CA", KEY)),
        (Role.GATEWAY, Violation("X")),
        (Role.LINE, Output(AM)),
        (Role.LINE, SignOnAccepted("CA", 0)),
        (Role.LINE, SignOnRefused("X")),
        (Role.LINE, Unreadable("X")),
        (Role.LINE, Input(AM, "FAULT")),
    ],
)
def test_an_end_sends_only_its_own_events(role: Role, event: Event) -> None:
    protocol = LineProtocol(role, line="CA")
    with pytest.raises(LineProtocolError):
        protocol.send(event)


def test_output_frames_are_the_frames_send_gives() -> None:
    texts = [AM, AM.replace("AM", "ER", 1), ""]
    protocol = signed_on_gateway()
    assert protocol.output_frames(texts) == [protocol.send(Output(text)) for text in texts]
    assert protocol.output_block(texts) == b"".join(protocol.output_frames(texts))
    assert protocol.output_frames([]) == []
    assert protocol.output_block([]) == b""
    # Only a signed-on gateway sends outputs.
    for unable in (gateway(), LineProtocol(Role.LINE, line="CA")):
        with pytest.raises(LineProtocolError):
            unable.output_frames([AM])
        with pytest.raises(LineProtocolError):
            unable.output_block([AM])


def test_nothing_is_sent_or_received_after_close() -> None:
    protocol = signed_on_gateway()
    protocol.close()
    assert protocol.receive_data(encode_frame(AM)) == []
    assert protocol.receive_payload(b"ACK.1") == []
    with pytest.raises(LineProtocolError):
        protocol.send(Heartbeat(probe=True))


# properties

controls = st.sampled_from(
    ["HB", "ACK.1", "ACK.99", "ACK.X", f"SIGNON.CA.{KEY}", "SIGNON.TX", "HB HB", AM]
)
frame_texts = st.one_of(controls, st.text(alphabet=CHARSET, max_size=40))
junk = st.binary(max_size=12).map(lambda b: b.replace(b"\x02", b""))
raw_frames = st.binary(max_size=50).map(lambda b: b"\x02" + b.replace(b"\x03", b"") + b"\x03")


@st.composite
def gateway_streams(draw: st.DrawFn) -> bytes:
    """A session's bytes: often a sign-on first, then frames, bad frames and junk."""
    parts = [draw(junk)]
    if draw(st.booleans()):
        parts.append(encode_frame(f"SIGNON.CA.{KEY}"))
    for _ in range(draw(st.integers(0, 8))):
        parts.append(draw(st.one_of(frame_texts.map(encode_frame), raw_frames, junk)))
    return b"".join(parts)


@given(gateway_streams())
def test_gateway_events_do_not_depend_on_how_the_stream_is_cut(stream: bytes) -> None:
    whole = drive(gateway(max_text=30), [stream])
    single = drive(gateway(max_text=30), [stream[i : i + 1] for i in range(len(stream))])
    assert single == whole


@st.composite
def line_streams(draw: st.DrawFn) -> bytes:
    """What a gateway sends: a sign-on answer, then outputs, HB and the odd bad frame."""
    parts = [encode_frame(draw(st.sampled_from(["SIGNON OK CA 99998", "SIGNON REJECTED X"])))]
    seq = 99_998
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["output", "hb", "raw", "junk"]))
        if kind == "output":
            seq += 1
            parts.append(encode_frame(output_text(seq)))
        elif kind == "hb":
            parts.append(encode_frame("HB"))
        else:
            parts.append(draw(raw_frames if kind == "raw" else junk))
    return b"".join(parts)


@given(line_streams())
def test_line_events_do_not_depend_on_how_the_stream_is_cut(stream: bytes) -> None:
    def read(chunks: list[bytes]) -> list[Event]:
        protocol = LineProtocol(Role.LINE)
        protocol.send(SignOnRequest("CA", KEY))
        return [event for chunk in chunks for event in protocol.receive_data(chunk)]

    assert read([stream[i : i + 1] for i in range(len(stream))]) == read([stream])


@given(st.lists(st.binary(max_size=80), max_size=8), st.sampled_from(list(Role)))
def test_arbitrary_bytes_never_raise(chunks: list[bytes], role: Role) -> None:
    stream_protocol = LineProtocol(role, max_text=40)
    payload_protocol = LineProtocol(role, max_text=40, line="CA")
    if role is Role.GATEWAY:
        events = drive(stream_protocol, chunks)
    else:
        stream_protocol.send(SignOnRequest("CA", KEY))
        events = [event for chunk in chunks for event in stream_protocol.receive_data(chunk)]
    for chunk in chunks:
        (event,) = payload_protocol.receive_payload(chunk)
        # A signed-on line's frame never asks for a sign-on again.
        assert not isinstance(event, SignOnRequest | SignOnAccepted | Violation)
        events.append(event)
    assert all(isinstance(event, Event) for event in events)


@given(st.lists(st.binary(max_size=80), max_size=8))
def test_no_event_ever_carries_a_key(chunks: list[bytes]) -> None:
    stream = encode_frame(f"SIGNON.CA.{KEY}") + b"".join(
        chunk + encode_frame(f"SIGNON.CA.{KEY}") for chunk in chunks
    )
    events = drive(gateway(max_text=40), [stream])
    assert events[0] == SignOnRequest("CA", KEY)
    assert all(KEY not in repr(event) for event in events)


texts = st.text(alphabet=CHARSET, max_size=60)


@given(texts)
def test_input_round_trip(text: str) -> None:
    (event,) = signed_on_gateway().receive_data(signed_on_line().send(Input(text)))
    (payload_event,) = LineProtocol(Role.GATEWAY, line="CA").receive_payload(
        LineProtocol(Role.LINE, line="CA").payload(Input(text))
    )
    assert event == payload_event
    if isinstance(event, Input) and event.fault is None:
        assert event.text == text


@given(st.integers(0, 10**18 - 1))
def test_ack_round_trip(seq: int) -> None:
    assert signed_on_gateway().receive_data(signed_on_line().send(Ack(seq))) == [Ack(seq)]


@given(st.from_regex("[A-Z]{2}", fullmatch=True), st.text(
    alphabet="".join(chr(c) for c in range(0x21, 0x7F)), min_size=1, max_size=64
), st.integers(0, 10**18 - 1))
def test_signon_round_trip(line: str, key: str, last_ack: int) -> None:
    client = LineProtocol(Role.LINE)
    server = gateway()
    assert server.receive_data(client.send(SignOnRequest(line, key))) == [
        SignOnRequest(line, key)
    ]
    assert client.receive_data(server.send(SignOnAccepted(line, last_ack))) == [
        SignOnAccepted(line, last_ack)
    ]
    assert (client.line, server.line) == (line, line)


@given(st.from_regex("[A-Z0-9]([A-Z0-9 .]{0,38}[A-Z0-9.])?", fullmatch=True))
def test_refusal_round_trip(reason: str) -> None:
    client = LineProtocol(Role.LINE)
    server = gateway()
    server.receive_data(client.send(SignOnRequest("CA", KEY)))
    assert client.receive_data(server.send(SignOnRefused(reason))) == [SignOnRefused(reason)]


def test_heartbeat_round_trip_both_ways() -> None:
    client, server = signed_on_line(), signed_on_gateway()
    assert server.receive_data(client.send(Heartbeat(probe=True))) == [Heartbeat(probe=True)]
    assert client.receive_data(server.send(Heartbeat(probe=False))) == [Heartbeat(probe=False)]
    assert client.receive_data(server.send(Heartbeat(probe=True))) == [Heartbeat(probe=True)]
    assert server.receive_data(client.send(Heartbeat(probe=False))) == [Heartbeat(probe=False)]


@given(st.integers(0, 3 * SEQ_WRAP), st.lists(st.integers(1, 3), min_size=1, max_size=6),
       texts)
def test_output_round_trip_resolves_the_wrap(last_ack: int, steps: list[int], body: str) -> None:
    client, server = signed_on_line(last_ack), signed_on_gateway()
    seq = last_ack
    for step in steps:
        seq += step
        text = output_text(seq, body)
        (event,) = client.receive_data(server.send(Output(text)))
        assert event == Received(seq, client.codec.read_output(text), text)
    assert client.last_seq == seq
