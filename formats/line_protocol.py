"""The line protocol of SPEC.md §2 as one object without IO, in the manner of h11.

Sign-on, heartbeat, cumulative acknowledgement and the rules for bad frames live here once,
for both ends of a line: the gateway's TCP sessions and MQTT lines, and the simulator's
state switches. Bytes (or one MQTT payload) go in and come out as events; an event goes in
to :meth:`LineProtocol.send` and comes out as the bytes to write. No socket, clock or task
lives here: the sign-on and idle timers, the write queue and the key check are the
transport's. docs/protocol-notes.md describes the states and events.
"""

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from formats.control import (
    HEARTBEAT,
    Ack,
    SignOn,
    format_ack,
    format_signon,
    format_signon_ok,
    format_signon_rejected,
    parse_control,
    parse_signon_reply,
)
from formats.errors import MessageError
from formats.framing import (
    DEFAULT_MAX_TEXT,
    BadFrame,
    Frame,
    FrameDecoder,
    decode_text,
    encode_frame,
    encode_frames,
    encode_text,
)
from formats.output import SEQ_WRAP, OutputMessage, parse_output

__all__ = [
    "BAD_FRAME_DETAIL",
    "TEXT",
    "Ack",
    "Codec",
    "Event",
    "Heartbeat",
    "Input",
    "LineProtocol",
    "LineProtocolError",
    "Output",
    "Received",
    "Role",
    "SignOnAccepted",
    "SignOnRefused",
    "SignOnRequest",
    "State",
    "TextCodec",
    "Unreadable",
    "Violation",
    "full_seq",
]

# The ER 0 detail of a frame the framing rules refuse, by BadFrame.reason.
BAD_FRAME_DETAIL = {
    "oversize": "FRAME LONGER THAN THE MAXIMUM TEXT LENGTH",
    "charset": "BYTES OUTSIDE THE CHARACTER SET",
}
SIGNON_REQUIRED = "SIGNON REQUIRED"
ALREADY_SIGNED_ON = "ALREADY SIGNED ON"


class Role(Enum):
    """Which end of the line the protocol object plays."""

    GATEWAY = "gateway"
    LINE = "line"


class State(Enum):
    """Where the conversation is; it decides what may be received and sent next."""

    AWAITING_SIGNON = "awaiting sign-on"
    VERIFYING = "verifying the sign-on"
    SIGNED_ON = "signed on"
    CLOSED = "closed"


class LineProtocolError(Exception):
    """The caller used the protocol out of turn: an event its role or state may not send."""


# Events. A peer's bytes never raise: what breaks the rules comes out as an event.


@dataclass(frozen=True, slots=True)
class SignOnRequest:
    """``SIGNON.<LINE>.<KEY>``: a line asks to sign on (the key is never shown in a repr)."""

    line: str
    key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignOnAccepted:
    """``SIGNON OK <LINE> <LASTACK>``."""

    line: str
    last_ack: int


@dataclass(frozen=True, slots=True)
class SignOnRefused:
    """``SIGNON REJECTED <REASON>``; the gateway closes the connection after it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Violation:
    """The peer's first frame is not what it must be (a SIGNON, or a sign-on answer)."""

    reason: str


# Not frozen, like formats.framing.Frame: one is built per input read (0.6 us to build,
# 1.4 us frozen). Nothing mutates it.
@dataclass(slots=True)
class Input:
    """A frame from a signed-on line to journal; ``fault``, when set, is the ER 0 detail.

    A sign-on key in ``text`` is withheld already.
    """

    text: str
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """A numbered output text the gateway sends to a line."""

    text: str


@dataclass(frozen=True, slots=True)
class Received:
    """An output as a line received it: its full sequence number, header and text."""

    seq: int
    message: OutputMessage
    text: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """``HB``. A probe asks for an answer; an HB that answers one's own probe is no probe."""

    probe: bool


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A frame from the gateway that a line cannot read; ``reason`` says why."""

    reason: str


Event = (
    SignOnRequest
    | SignOnAccepted
    | SignOnRefused
    | Violation
    | Input
    | Output
    | Received
    | Ack
    | Heartbeat
    | Unreadable
)

_PROBE = Heartbeat(probe=True)
_ANSWER = Heartbeat(probe=False)

# What each end may send, and in which state.
_SENDS: dict[Role, dict[type, State]] = {
    Role.GATEWAY: {
        SignOnAccepted: State.VERIFYING,
        SignOnRefused: State.VERIFYING,
        Output: State.SIGNED_ON,
        Heartbeat: State.SIGNED_ON,
    },
    Role.LINE: {
        SignOnRequest: State.AWAITING_SIGNON,
        Input: State.SIGNED_ON,
        Ack: State.SIGNED_ON,
        Heartbeat: State.SIGNED_ON,
    },
}


class Codec(Protocol):
    """A line's message format: TextCodec here, formats.nlets_xml.XmlCodec for XML lines."""

    def read_output(self, text: str) -> OutputMessage:
        """The output a line received; raises MessageError when it is not one."""
        ...


class TextCodec:
    """Nlets legacy text (SPEC.md §3, §4): the message format of a line whose format is text."""

    __slots__ = ()

    def read_output(self, text: str) -> OutputMessage:
        """The output a line received; raises MessageError when its header is not one."""
        return parse_output(text)


TEXT = TextCodec()


def full_seq(last: int, wrapped: int) -> int:
    """The full sequence number of a 5-digit header number that follows ``last``."""
    return last + (wrapped - last) % SEQ_WRAP


def _withhold_key(text: str) -> str:
    """A sign-on frame's text with its key replaced, to journal and echo."""
    stripped = text.lstrip(" \t\r\n")
    if not stripped.startswith("SIGNON"):
        return text
    return ".".join(stripped.split(".", 2)[:2]) + ".KEY WITHHELD"


def _printable(raw: bytes) -> str:
    """Bytes as 7-bit printable text, anything else as '?', for ER echoes."""
    return "".join(chr(b) if 0x20 <= b < 0x7F or b in (0x0A, 0x0D) else "?" for b in raw)


class LineProtocol:
    """One line's conversation, as the gateway (``Role.GATEWAY``) or the line sees it.

    States go AWAITING_SIGNON → VERIFYING → SIGNED_ON, or to CLOSED on a refusal. Give
    ``line`` for a line the transport signed on already (MQTT: the broker's login); it
    starts SIGNED_ON. The codec is the line's message format.
    """

    __slots__ = (
        "_decoder",
        "_held",
        "_max_text",
        "_probing",
        "_read",
        "_request",
        "codec",
        "last_seq",
        "line",
        "role",
        "state",
    )

    def __init__(
        self,
        role: Role,
        codec: Codec = TEXT,
        max_text: int = DEFAULT_MAX_TEXT,
        *,
        line: str | None = None,
    ) -> None:
        self.role = role
        self.codec = codec
        self._decoder = FrameDecoder(max_text)
        self._max_text = max_text
        self.line = line
        self.state = State.AWAITING_SIGNON if line is None else State.SIGNED_ON
        # Line role: the full number of the highest output read, to resolve the 5-digit wrap.
        self.last_seq = 0
        self._held: list[Frame | BadFrame] = []
        self._request: SignOnRequest | None = None
        self._probing = False
        self._read = self._gateway_read if role is Role.GATEWAY else self._line_read

    @property
    def probe_outstanding(self) -> bool:
        """True from sending a probe HB until its answer arrives."""
        return self._probing

    # receiving

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes of the stream (STX/ETX framing); the events of the frames they complete.

        While the gateway verifies a sign-on, later frames are held for :meth:`held_events`.
        """
        return self._events(self._decoder.feed(data), None)

    def receive_payload(self, payload: bytes, seq: int | None = None) -> list[Event]:
        """One frame's text without framing bytes (an MQTT message); its events.

        A line passes ``seq`` when the transport carries an output's full number (MQTT's
        ``seq`` user property); otherwise it is resolved from the header.
        """
        if seq is not None and self.role is Role.GATEWAY:
            raise LineProtocolError("only a line's outputs carry a sequence number")
        return self._events([decode_text(payload, self._max_text)], seq)

    def held_events(self) -> list[Event]:
        """The events of frames held while the sign-on was verified; once, after the answer."""
        if self.state is State.VERIFYING:
            raise LineProtocolError("the sign-on is not answered yet")
        held, self._held = self._held, []
        return self._events(held, None)

    def _events(self, frames: list[Frame | BadFrame], seq: int | None) -> list[Event]:
        events: list[Event] = []
        for index, frame in enumerate(frames):
            state = self.state
            if state is State.SIGNED_ON:
                read = self._read
                for rest in frames[index:]:
                    events.append(read(rest, seq))
                break
            if state is State.CLOSED:
                break
            if self.role is Role.LINE:
                events.append(self._signon_answer(frame))
            elif state is State.AWAITING_SIGNON:
                events.append(self._signon_request(frame))
            else:
                # After a violation nothing is held: the refusal ends the session.
                if self._request is not None:
                    self._held.extend(frames[index:])
                break
        return events

    def _signon_request(self, frame: Frame | BadFrame) -> SignOnRequest | Violation:
        """A session's first frame must be a valid SIGNON."""
        self.state = State.VERIFYING
        control = None
        if isinstance(frame, Frame):
            with contextlib.suppress(MessageError):
                control = parse_control(frame.text)
        if not isinstance(control, SignOn):
            return Violation(SIGNON_REQUIRED)
        self._request = SignOnRequest(control.line, control.key)
        return self._request

    def _gateway_read(self, frame: Frame | BadFrame, seq: int | None) -> Event:
        """A frame from a signed-on line: an Ack, a Heartbeat, else an Input to journal."""
        if isinstance(frame, BadFrame):
            return Input(_withhold_key(_printable(frame.raw)), BAD_FRAME_DETAIL[frame.reason])
        text = frame.text
        try:
            control = parse_control(text)
        except MessageError as exc:
            return Input(_withhold_key(text), exc.detail)
        if control is None:
            return Input(text)
        if isinstance(control, SignOn):
            return Input(_withhold_key(text), ALREADY_SIGNED_ON)
        if isinstance(control, Ack):
            return control
        return self._heartbeat()

    def _signon_answer(self, frame: Frame | BadFrame) -> Event:
        """The gateway's first frame: SIGNON OK or SIGNON REJECTED."""
        if isinstance(frame, BadFrame):
            return Unreadable(BAD_FRAME_DETAIL[frame.reason])
        try:
            accepted, detail, last_ack = parse_signon_reply(frame.text)
        except MessageError as exc:
            self.state = State.CLOSED
            return Violation(exc.detail)
        if not accepted:
            self.state = State.CLOSED
            return SignOnRefused(detail)
        self.state = State.SIGNED_ON
        self.line = detail
        self.last_seq = last_ack
        return SignOnAccepted(detail, last_ack)

    def _line_read(self, frame: Frame | BadFrame, seq: int | None) -> Event:
        """A frame to a signed-on line: a Heartbeat, else an output in the line's format."""
        if isinstance(frame, BadFrame):
            return Unreadable(BAD_FRAME_DETAIL[frame.reason])
        text = frame.text
        if text == HEARTBEAT:
            return self._heartbeat()
        try:
            message = self.codec.read_output(text)
        except MessageError as exc:
            return Unreadable(exc.detail)
        if seq is None:
            seq = full_seq(self.last_seq, message.out_seq)
        self.last_seq = max(self.last_seq, seq)
        return Received(seq, message, text)

    def _heartbeat(self) -> Heartbeat:
        # Each end answers only an HB it did not ask for (docs/protocol-notes.md).
        if self._probing:
            self._probing = False
            return _ANSWER
        return _PROBE

    # sending

    def send(self, event: Event) -> bytes:
        """The bytes that carry ``event`` on the stream, STX/ETX framed.

        Raises LineProtocolError when this end may not send it now, MessageError when its
        text holds bytes outside the character set.
        """
        return encode_frame(self._text(event))

    def output_frames(self, texts: Iterable[str]) -> list[bytes]:
        """The frames of outputs, one per text: what :meth:`send` gives for ``Output(text)``,
        with the state checked once for the lot (a batch of outputs to a line)."""
        self._may_send(Output)
        return [encode_frame(text) for text in texts]

    def output_block(self, texts: Sequence[str]) -> bytes:
        """The frames of :meth:`output_frames` joined: what a line that takes them all at
        once is written."""
        self._may_send(Output)
        return encode_frames(texts)

    def payload(self, event: Event) -> bytes:
        """The MQTT payload that carries ``event``: the text alone; rules as :meth:`send`."""
        return encode_text(self._text(event))

    def _may_send(self, kind: type) -> None:
        """Raise LineProtocolError unless this end may send events of ``kind`` now."""
        state = _SENDS[self.role].get(kind)
        if state is None:
            raise LineProtocolError(f"the {self.role.value} side does not send {kind.__name__}")
        if self.state is not state:
            raise LineProtocolError(f"{kind.__name__} cannot be sent when {self.state.value}")

    def _text(self, event: Event) -> str:
        self._may_send(type(event))
        if isinstance(event, Output):
            return event.text
        if isinstance(event, Input):
            if event.fault is not None:
                raise LineProtocolError("a line sends no fault with its input")
            return event.text
        if isinstance(event, Ack):
            return format_ack(event.seq)
        if isinstance(event, Heartbeat):
            if event.probe:
                self._probing = True
            return HEARTBEAT
        if isinstance(event, SignOnRequest):
            self.state = State.VERIFYING
            return format_signon(event.line, event.key)
        if isinstance(event, SignOnAccepted):
            if self._request is None or self._request.line != event.line:
                raise LineProtocolError(f"no SIGNON for line {event.line} to accept")
            self.state = State.SIGNED_ON
            self.line = event.line
            self._request = None
            return format_signon_ok(event.line, event.last_ack)
        assert isinstance(event, SignOnRefused)
        self.close()
        return format_signon_rejected(event.reason)

    def close(self) -> None:
        """The connection ends: nothing more is received or sent; held frames are dropped."""
        self.state = State.CLOSED
        self._held = []
        self._request = None
