"""Enhanced IAQ responses: a technician researches the query; a second IAR with ``ENH/Y`` follows.

A query goes to the technician queue when the search found several possible records
(``STS/MLT``), when its ``REM/`` asks for an enhanced response (the word ``ENHANCED`` or
``ENH``), or when a firearms (PUR/F) check needs a manual look (see responders/lesc/brady.py).
"""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from formats.dates import parse_dob
from formats.iaq import IAQ
from responders.base import Exchange, Reply
from responders.lesc.biometric import booking_of, bureau_copies, requester
from responders.lesc.desk import (
    ENHANCED,
    NRF,
    OPEN,
    Case,
    CaseAction,
    CaseClosed,
    CaseOpened,
    LescState,
    request_fields,
)
from responders.lesc.detainers import lodge, warrants_detainer
from responders.lesc.iaq_steps import FIREARMS, Inquiry, iar_body, nics_copies

_ASKS_ENHANCED: Final = re.compile(r"\bENH(?:ANCED)?\b")
# The request field of a biometric IAQ's case naming the bureau its answers are copied to.
_BUREAU: Final = "IDENT_BUREAU"


def asks_enhanced(remark: str | None) -> bool:
    """Whether a ``REM/`` text asks for an enhanced response."""
    return remark is not None and _ASKS_ENHANCED.search(remark) is not None


def want_enhanced(exchange: Exchange) -> None:
    """Several possible records, or a remark asking for it: the technician queue answers too."""
    iaq: IAQ = exchange.data["iaq"]
    # The answer step announces it; several steps may ask, the IAR says it once.
    if exchange.data["status"] == "MLT" or asks_enhanced(iaq.rem):
        exchange.data["enhanced"] = True


def open_enhanced_case(exchange: Exchange) -> None:
    """Put the query in the technician queue with the records it may be answered from."""
    if not exchange.data.get("enhanced"):
        return
    iaq: IAQ = exchange.data["iaq"]
    records: list[Any] = exchange.data["records"]
    ori, line = requester(exchange)
    booking = booking_of(exchange)
    case = Case(
        id=int(exchange.control_number),
        kind=ENHANCED,
        state=OPEN,
        line=line,
        ori=ori,
        received_at=exchange.received_at,
        control=exchange.message.control,
        request=request_fields(
            [
                ("NAM", iaq.nam),
                ("DOB", exchange.fields["DOB"]),
                ("SEX", iaq.sex),
                ("PUR", iaq.pur),
                ("CUS", iaq.cus),
                ("LAST", iaq.last),
                ("FIRST", iaq.first),
                ("MIDDLE", iaq.middle),
                ("REM", iaq.rem),
                (_BUREAU, None if booking is None else booking.bureau),
            ]
        ),
        candidates=tuple(record.arn for record in records),
    )
    exchange.effects.append(CaseOpened(case, exchange.received_at))


def technician_pick(case: Case, records: Sequence[Any]) -> str:
    """What a simulated technician answers: the one record the names single out, else NRF.

    One candidate is taken as it is; among several, the only one with the queried surname
    and first name, else the only one with the queried first name.
    """
    if len(records) == 1:
        return str(records[0].arn)
    last, first = case.request.get("LAST"), case.request.get("FIRST")
    exact = [r for r in records if r.last == last and r.first == first]
    if len(exact) == 1:
        return str(exact[0].arn)
    same_first = [r for r in records if r.first == first]
    if len(same_first) == 1:
        return str(same_first[0].arn)
    return NRF


def enhanced_action(
    case: Case,
    answer: str,
    answered_by: str,
    remark: str | None,
    state: LescState,
    at: datetime,
    due: datetime | None = None,
) -> CaseAction:
    """The second IAR (``ENH/Y``) from the technician's answer: an A-number or NRF."""
    record = state.index.by_arn(answer) if answer != NRF else None
    status = str(record.status) if record is not None else NRF
    notes = [f"ENHANCED RESPONSE BY {answered_by}."]
    if remark:
        notes.append(f"REMARKS: {remark}")
    firearms = case.request.get("PUR") == "F"
    if firearms:
        notes.append(FIREARMS[status])
    lodged: CaseAction | None = None
    dtn = False
    if record is not None and case.request.get("CUS") == "Y" and warrants_detainer(record):
        dtn = True
        if not state.desk.detainer_in_place(case.ori, record.arn):
            lodged = lodge(
                state, input_id=case.id, line=case.line, ori=case.ori, record=record, at=at
            )
    request = case.request
    # The DOB as queried was valid on the day the case opened, so it reads the same again.
    inquiry = Inquiry(
        request["LAST"],
        request["FIRST"],
        request.get("MIDDLE", ""),  # not kept by cases opened before it was
        parse_dob(request["DOB"], case.received_at.date()),
    )
    body = iar_body(
        nam=request["NAM"],
        dob=request["DOB"],
        sex=request["SEX"],
        lcn=case.control_number,
        status=status,
        record=record,
        inquiry=inquiry,
        dtn=dtn,
        notes=notes,
        enhanced=True,
    )
    replies = [Reply("IAR", state.ori, case.ori, body)]
    if firearms:
        replies += nics_copies(state, case.ori, replies)
    action = CaseAction(replies, [CaseClosed(case, at, status, answered_by, dtn, due)])
    if lodged is not None:
        action.replies += lodged.replies
        action.effects += lodged.effects
    bureau = case.request.get(_BUREAU)
    if bureau is not None:
        action.replies = bureau_copies(action.replies, case.ori, bureau)
    return action
