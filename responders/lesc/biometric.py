"""Biometric IAQs: the FBI CJIS Division's query after a fingerprint match at booking.

Since Secure Communities, fingerprints taken at booking go through the state identification
bureau to the FBI's IAFIS (now NGI), which also searches DHS's IDENT; on a match the FBI CJIS
Division sends the LESC an IAQ carrying the subject's FBI and SID numbers and the booking
agency's ORI (``BOR/``). The LESC acknowledges to the sender, answers the booking agency, and
copies the answer (the IAR and any detainer notice) to the state identification bureau of the
booking ORI's line (line registry column ``ident_bureau_ori``). docs/lesc.md has the sources.
"""

from dataclasses import dataclass

from formats._rules import field_error
from formats.errors import ErrorCode, MessageError
from formats.iaq import IAQ, check_biometric
from responders.base import Exchange, Reply
from responders.lesc.desk import LescState, lesc_state
from routing.lines import default_ident_bureau_ori, ident_bureau_ori


@dataclass(frozen=True, slots=True)
class Booking:
    """Where a biometric IAQ is answered: the booking ORI, its line, and the line's bureau."""

    ori: str
    line: str
    bureau: str


def ident_bureau(state: LescState, line: str) -> str:
    """The state identification bureau ORI of a line (registry column; default
    ``<LINE>SIB0000``)."""
    entry = state.lines.get(line)
    return ident_bureau_ori(entry) if entry is not None else default_ident_bureau_ori(line)


def booking_of(exchange: Exchange) -> Booking | None:
    """The booking a biometric IAQ is answered for; None for an agency's own query."""
    booking: Booking | None = exchange.data.get("booking")
    return booking


def requester(exchange: Exchange) -> tuple[str, str]:
    """(ORI, line) of the agency an IAQ is answered for: the booking agency of a biometric
    IAQ, else the sender and its line."""
    booking = booking_of(exchange)
    if booking is None:
        return exchange.message.sender, exchange.line
    return booking.ori, booking.line


def classify(exchange: Exchange) -> None:
    """Tell a biometric IAQ (from the CJIS ORI) from an agency's own and check what it adds.

    A biometric IAQ must carry ``FBI/``, ``SID/`` and ``BOR/`` (.14.), be PUR/C (.22.), and
    name a booking ORI on a line of the switch (.19.); ``BOR/`` from any other sender is .22.
    """
    iaq: IAQ = exchange.data["iaq"]
    state = lesc_state(exchange)
    if exchange.message.sender != state.cjis_ori:
        if iaq.bor is not None:
            raise field_error("BOR", f"ONLY IN A BIOMETRIC IAQ FROM {state.cjis_ori}")
        return
    ori = check_biometric(exchange.fields, iaq)
    line = state.line_of(ori)
    if line is None:
        raise MessageError(ErrorCode.DESTINATION, f"BOR/ {ori} IS ON NO LINE", "BOR")
    exchange.data["booking"] = Booking(ori, line, ident_bureau(state, line))


def bureau_copies(replies: list[Reply], booking_ori: str, bureau: str) -> list[Reply]:
    """The replies, each one to the booking ORI followed by its copy to the bureau."""
    out: list[Reply] = []
    for reply in replies:
        out.append(reply)
        if reply.dest == booking_ori and bureau != booking_ori:
            out.append(Reply(reply.mke, reply.sender, bureau, reply.body))
    return out


def to_booking_agency(exchange: Exchange) -> None:
    """Send the IAR of a biometric IAQ to the booking ORI instead of the CJIS sender, and a
    copy of it and of any detainer notice to the state identification bureau."""
    booking = booking_of(exchange)
    if booking is None:
        return
    sender = exchange.message.sender
    readdressed = [
        Reply(reply.mke, reply.sender, booking.ori, reply.body)
        if reply.mke == "IAR" and reply.dest == sender
        else reply
        for reply in exchange.outputs
    ]
    exchange.outputs[:] = bureau_copies(readdressed, booking.ori, booking.bureau)
