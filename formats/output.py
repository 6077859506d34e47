"""The Nlets output header (SPEC.md §4)."""

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache

from formats.errors import ErrorCode, MessageError

SEQ_WRAP = 100_000
# Every sequence number as a header prints it (five digits), by its value modulo SEQ_WRAP:
# an output prints two, and indexing costs a quarter of str().zfill(5), the cheapest way to
# format one (6 MB, built in 18 ms at import).
_FIVE_DIGITS = tuple([str(number).zfill(5) for number in range(SEQ_WRAP)])

_MKE_SENDER = r"([A-Z]{2,3})\.([A-Z]{2}[A-Z0-9]{7})"
_STAMP = "([0-9]{2}:[0-9]{2} [0-9]{2}/[0-9]{2}/[0-9]{4}) ([0-9]{5})"
_DEST_CONTROL = r" ([A-Z0-9]{2,9})(?: \*([A-Z0-9-]{1,10}))?"
_LINE1 = re.compile(_MKE_SENDER)
_LINE2 = re.compile(_STAMP)
_LINE3 = re.compile(_STAMP + _DEST_CONTROL)
# The four header lines in one match; a text it does not take is read line by line, which
# names the fault. The line ends as the line-by-line reading takes them: LF, or CR LF.
_HEADER = re.compile(
    rf"{_MKE_SENDER}\r?\n{_STAMP}\r?\n{_STAMP}{_DEST_CONTROL}\r?\nTXT\r?(?:\n|\Z)"
)


# Not frozen, like formats.message.InputMessage: a line client reads one per output, and a
# frozen dataclass's nine object.__setattr__ calls were most of the reading. Nothing mutates it.
@dataclass(slots=True)
class OutputMessage:
    """An output as delivered to a line; sequence numbers are the full numbers."""

    mke: str
    sender: str
    in_time: datetime
    in_seq: int
    out_time: datetime
    out_seq: int
    dest: str
    control: str | None
    body: str


def seq_text(seq: int) -> str:
    """A sequence number as the header prints it: five digits, modulo SEQ_WRAP."""
    return _FIVE_DIGITS[seq % SEQ_WRAP]


# ``HH:MM MM/DD/CCYY`` of a moment in its zone. The outputs of a batch share their two
# moments (the input's arrival, the batch's clock reading): each is formatted once. The zone
# is part of the key: moments of two zones are equal when they are the same instant, and
# their clocks differ.
@lru_cache(maxsize=256)
def _clock(moment: datetime, zone: tzinfo | None) -> str:
    return (
        f"{moment.hour:02d}:{moment.minute:02d} "
        f"{moment.month:02d}/{moment.day:02d}/{moment.year:04d}"
    )


class _LastClocks:
    """The clocks of the moments a header was last formatted with, as (moment, clock): the
    outputs rendered one after another answer inputs of one batch, which share one arrival
    object and one output moment, so the same objects come again and again. A pair is
    replaced whole: a thread rendering meanwhile never reads one moment's clock for another."""

    __slots__ = ("inbound", "outbound")

    def __init__(self) -> None:
        self.inbound: tuple[datetime | None, str] = (None, "")
        self.outbound: tuple[datetime | None, str] = (None, "")


_LAST_CLOCKS = _LastClocks()


def format_output_parts(mke: str, sender: str, in_time: datetime, in_seq: int,
                        out_time: datetime, out_seq: int, dest: str, control: str | None,
                        body: str) -> str:
    """:func:`format_output` of an output given by its parts, with no OutputMessage built."""
    marked = f" *{control}" if control else ""
    # The very objects of the last output: their clocks without a call (a third of the cost).
    # The numbers as seq_text gives them, inline: its call would cost a third of what the
    # table saves, twice an output.
    last = _LAST_CLOCKS
    inbound = last.inbound
    if inbound[0] is not in_time:
        inbound = last.inbound = (in_time, _clock(in_time, in_time.tzinfo))
    outbound = last.outbound
    if outbound[0] is not out_time:
        outbound = last.outbound = (out_time, _clock(out_time, out_time.tzinfo))
    return (
        f"{mke}.{sender}\n{inbound[1]} {_FIVE_DIGITS[in_seq % SEQ_WRAP]}\n"
        f"{outbound[1]} {_FIVE_DIGITS[out_seq % SEQ_WRAP]} {dest}{marked}\nTXT\n{body}"
    )


def format_output(msg: OutputMessage) -> str:
    """Render header and body; sequence numbers are printed modulo 100000, five digits."""
    return format_output_parts(msg.mke, msg.sender, msg.in_time, msg.in_seq, msg.out_time,
                               msg.out_seq, msg.dest, msg.control, msg.body)


# The outputs a client reads carry a few clocks (a minute each): each is read once.
@lru_cache(maxsize=1024)
def _clock_moment(clock: str) -> datetime | None:
    """The moment of ``HH:MM MM/DD/CCYY``, or None if it is no real date and time."""
    try:
        return datetime(
            int(clock[12:]), int(clock[6:8]), int(clock[9:11]), int(clock[:2]), int(clock[3:5])
        )
    except ValueError:
        return None


def _moment(clock: str, line: int) -> datetime:
    """The clock of a header line, to the minute."""
    moment = _clock_moment(clock)
    if moment is None:
        raise MessageError(ErrorCode.FORMAT, f"OUTPUT LINE {line} HOLDS NO REAL DATE AND TIME")
    return moment


def parse_output(text: str) -> OutputMessage:
    """Parse a delivered output (for line clients); sequence numbers come back as 0-99999."""
    match = _HEADER.match(text)
    if match is not None:
        mke, sender, in_clock, in_seq, out_clock, out_seq, dest, control = match.groups()
        in_time, out_time = _clock_moment(in_clock), _clock_moment(out_clock)
        if in_time is not None and out_time is not None:
            return OutputMessage(mke, sender, in_time, int(in_seq), out_time, int(out_seq), dest,
                                 control, text[match.end() :])
    return _parse_output_by_line(text)


def _parse_output_by_line(text: str) -> OutputMessage:
    """Parse an output line by line and raise the fault of the first bad line."""
    lines = text.split("\n", 4)
    if len(lines) < 4:
        raise MessageError(ErrorCode.FORMAT, "OUTPUT HEADER SHORTER THAN 4 LINES")
    # A line client may see the header with CR LF line ends; the body is kept as sent.
    line1, line2, line3, line4 = (line.removesuffix("\r") for line in lines[:4])
    first = _LINE1.fullmatch(line1)
    if first is None:
        raise MessageError(ErrorCode.FORMAT, "OUTPUT LINE 1 MUST BE MKE.SENDERORI")
    entered = _LINE2.fullmatch(line2)
    if entered is None:
        raise MessageError(ErrorCode.FORMAT, "OUTPUT LINE 2 MUST BE HH:MM MM/DD/CCYY NNNNN")
    sent = _LINE3.fullmatch(line3)
    if sent is None:
        raise MessageError(
            ErrorCode.FORMAT, "OUTPUT LINE 3 MUST BE HH:MM MM/DD/CCYY NNNNN DEST[ *CONTROL]"
        )
    if line4 != "TXT":
        raise MessageError(ErrorCode.TXT_NOT_FOUND, "OUTPUT LINE 4 MUST BE TXT", "TXT")
    return OutputMessage(
        mke=first.group(1),
        sender=first.group(2),
        in_time=_moment(entered.group(1), 2),
        in_seq=int(entered.group(2)),
        out_time=_moment(sent.group(1), 3),
        out_seq=int(sent.group(2)),
        dest=sent.group(3),
        control=sent.group(4),
        body=lines[4] if len(lines) == 5 else "",
    )
