"""Hit confirmation: a ``YQ`` to the LESC answered by a ``YR`` (SPEC.md §3-4).

The NIC names an IVF record. The identity in the YQ is compared with it:

- same surname, first name and DOB (and sex, unless U or absent): ``STA/CONFIRMED`` at once,
  and a detainer is lodged;
- no IVF record with that NIC, a record whose subject now has lawful status (USC, LPR: the
  entry is cleared), or neither the Soundex surname nor the DOB agree: ``STA/NOT CONFIRMED``;
- anything in between is a partial match: the case goes to the technician queue, the
  technician's answer is the final YR, and the gateway's deadline scheduler sends
  ``STA/PENDING`` with ``RTM/HHMM`` if no final answer is out shortly before the deadline.

A YQ for a case that is still open is answered at once (PENDING with a new RTM); RNO/2 or
RNO/3 for a closed case repeats its final answer; RNO/3 also sends an AM to the requester's
state control ORI.
"""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from formats.dates import format_ccyymmdd
from formats.hitconf import YQ, validate_yq
from formats.message import format_fields
from formats.soundex import soundex
from responders.base import Exchange, Pipeline, Reply
from responders.lesc import LESC
from responders.lesc.common import count_query, parse_body_fields
from responders.lesc.desk import (
    CLOSED,
    CONFIRMED,
    HIT,
    HIT_UNIT,
    NOT_CONFIRMED,
    OPEN,
    PENDING,
    WINDOWS,
    Case,
    CaseAction,
    CaseClosed,
    CaseOpened,
    CasePending,
    LescState,
    hhmm,
    lesc_state,
    promise,
    request_fields,
)
from responders.lesc.detainers import lodge

# An IVF entry whose subject has since gained lawful status no longer supports action.
CLEARED_STATUSES: Final = frozenset({"USC", "LPR"})
REPEATED: Final = "REPEATED ANSWER TO A CLOSED HIT CONFIRMATION REQUEST."


def validate(exchange: Exchange) -> None:
    """Apply the YQ field rules (.14. missing, .05. DOB, .22. any other field fault)."""
    exchange.data["yq"] = validate_yq(exchange.fields, exchange.today)


def count(exchange: Exchange) -> None:
    """Count the request for the yearly figures."""
    count_query(exchange, "YQ")


def yq_request(yq: YQ, dob_text: str) -> dict[str, str]:
    """The fields of a YQ a case keeps: what the YR echoes and what a technician compares."""
    return request_fields(
        [
            ("RTY", yq.rty),
            ("OCA", yq.oca),
            ("NIC", yq.nic),
            ("NAM", yq.nam),
            ("DOB", dob_text),
            ("SEX", yq.sex),
            ("LAST", yq.last),
            ("FIRST", yq.first),
            ("BIRTH", format_ccyymmdd(yq.dob)),
        ]
    )


def yr_body(
    request: Mapping[str, str],
    *,
    rno: int,
    sta: str,
    nao: str,
    note: str,
    rtm: str | None = None,
    dtn: bool = False,
) -> str:
    """The YR text: echoed fields, STA (RTM when PENDING), NAO, DTN, then a summary line."""
    fields = [
        ("RTY", request["RTY"]),
        ("RNO", str(rno)),
        ("OCA", request["OCA"]),
        ("NIC", request["NIC"]),
        ("NAM", request["NAM"]),
        ("STA", sta),
    ]
    if rtm is not None:
        fields.append(("RTM", rtm))
    fields.append(("NAO", nao))
    if dtn:
        fields.append(("DTN", "Y"))
    return format_fields(fields) + "\n" + note


def judge(
    last: str, first: str, dob: date, sex: str | None, nic: str, record: Any
) -> tuple[str | None, str]:
    """CONFIRMED, NOT CONFIRMED or None (partial match), with the YR summary line."""
    if record is None:
        return NOT_CONFIRMED, f"NO IMMIGRATION VIOLATOR RECORD WITH NIC/{nic}."
    if record.status in CLEARED_STATUSES:
        cleared = f"IVF RECORD NIC/{nic} IS CLEARED: SUBJECT NOW HAS STATUS {record.status}."
        return NOT_CONFIRMED, cleared
    same_name = last == record.last and first == record.first
    same_dob = dob == record.dob
    same_sex = sex in (None, "U") or record.sex in (sex, "U")
    if same_name and same_dob and same_sex:
        return CONFIRMED, confirmed_note(record)
    if soundex(last) != soundex(record.last) and not same_dob:
        return NOT_CONFIRMED, f"IDENTIFIERS DO NOT MATCH IVF RECORD NIC/{nic}."
    return None, "PARTIAL MATCH REFERRED TO A TECHNICIAN."


def confirmed_note(record: Any) -> str:
    """The summary line of a confirmed hit."""
    return f"SUBJECT IS THE PERSON IN IVF RECORD NIC/{record.nic} ({record.ivf})."


def follow_up(exchange: Exchange) -> None:
    """A request for a case already known is answered at once from that case."""
    yq: YQ = exchange.data["yq"]
    case = lesc_state(exchange).desk.find_case(exchange.message.sender, yq.nic, yq.oca)
    if case is None or (case.state == CLOSED and yq.rno == 1):
        return
    exchange.data["answered"] = True
    request = yq_request(yq, exchange.fields["DOB"])
    if case.state == CLOSED:
        body = yr_body(
            request,
            rno=yq.rno,
            sta=case.outcome or NOT_CONFIRMED,
            nao=case.answered_by or HIT_UNIT,
            note=REPEATED,
            dtn=case.detainer,
        )
        exchange.reply("YR", lesc_state(exchange).ori, body)
        return
    deadline = promise(exchange.received_at, yq.pri)
    rtm = hhmm(deadline)
    exchange.reply("YR", lesc_state(exchange).ori, pending_body(request, yq.rno, rtm))
    exchange.effects.append(
        CasePending(case, exchange.received_at, deadline, rtm, yq.pri, max(case.rno, yq.rno))
    )


def identify(exchange: Exchange) -> None:
    """Compare the identity in the YQ with the IVF record the NIC names."""
    if exchange.data.get("answered"):
        return
    yq: YQ = exchange.data["yq"]
    record = lesc_state(exchange).index.by_nic(yq.nic)
    exchange.data["record"] = record
    exchange.data["verdict"] = judge(yq.last, yq.first, yq.dob, yq.sex, yq.nic, record)


def decide(exchange: Exchange) -> None:
    """Answer a clear match or mismatch at once; queue a partial match for a technician."""
    if exchange.data.get("answered"):
        return
    yq: YQ = exchange.data["yq"]
    record = exchange.data["record"]
    sta, note = exchange.data["verdict"]
    sender = exchange.message.sender
    dtn = False
    lodged: CaseAction | None = None
    if sta == CONFIRMED:
        dtn = True
        if not lesc_state(exchange).desk.detainer_in_place(sender, record.arn):
            lodged = lodge(
                lesc_state(exchange),
                input_id=int(exchange.control_number),
                line=exchange.line,
                ori=sender,
                record=record,
                at=exchange.received_at,
            )
    request = yq_request(yq, exchange.fields["DOB"])
    case = Case(
        id=int(exchange.control_number),
        kind=HIT,
        state=OPEN if sta is None else CLOSED,
        line=exchange.line,
        ori=sender,
        received_at=exchange.received_at,
        control=exchange.message.control,
        request=request,
        candidates=(record.arn,) if record is not None else (),
        nic=yq.nic,
        oca=yq.oca,
        pri=yq.pri,
        rno=yq.rno,
        deadline=exchange.received_at + WINDOWS[yq.pri] if sta is None else None,
        outcome=sta,
        answered_by=None if sta is None else HIT_UNIT,
        detainer=dtn,
    )
    exchange.effects.append(CaseOpened(case, exchange.received_at))
    if sta is None:
        return
    exchange.reply(
        "YR",
        lesc_state(exchange).ori,
        yr_body(request, rno=yq.rno, sta=sta, nao=HIT_UNIT, note=note, dtn=dtn),
    )
    if lodged is not None:
        exchange.outputs.extend(lodged.replies)
        exchange.effects.extend(lodged.effects)


def notify_third_request(exchange: Exchange) -> None:
    """RNO/3: tell the requester's state control ORI that a third request was needed."""
    yq: YQ = exchange.data["yq"]
    if yq.rno != 3:
        return
    entry = exchange.lines.get(exchange.line)
    control_ori = entry.control_ori if entry is not None else f"{exchange.line}0000000"
    fields = [
        ("ORI", exchange.message.sender),
        ("NIC", yq.nic),
        ("OCA", yq.oca),
        ("PRI", yq.pri),
        ("LCN", exchange.control_number),
    ]
    body = "\n".join(
        [
            "THIRD REQUEST FOR HIT CONFIRMATION (RNO/3) RECEIVED BY THE LESC",
            format_fields(fields),
            "THE LESC HAS ANSWERED THE REQUESTING AGENCY.",
        ]
    )
    exchange.send("AM", lesc_state(exchange).ori, control_ori, body)


def pending_body(request: Mapping[str, str], rno: int, rtm: str) -> str:
    """A PENDING YR: the LESC will confirm or deny by RTM."""
    note = f"HIT CONFIRMATION PENDING. THE LESC WILL CONFIRM OR DENY BY {rtm}."
    return yr_body(request, rno=rno, sta=PENDING, nao=HIT_UNIT, note=note, rtm=rtm)


def pending_action(case: Case, ori: str, at: datetime, due: datetime) -> CaseAction:
    """The deadline is near and no final answer is out: send PENDING (as ``ori``), promise a
    new RTM."""
    pri = case.pri or "U"
    deadline = promise(at, pri)
    rtm = hhmm(deadline)
    reply = Reply("YR", ori, case.ori, pending_body(case.request, case.rno, rtm))
    return CaseAction([reply], [CasePending(case, at, deadline, rtm, pri, case.rno, due)])


def technician_verdict(case: Case, record: Any) -> str:
    """What a simulated technician decides after comparing the record by hand.

    Confirmed when the Soundex surname, the first initial and the DOB agree and the sex
    does not contradict; a partial match failing that is not confirmed.
    """
    if record is None or record.status in CLEARED_STATUSES:
        return NOT_CONFIRMED
    request = case.request
    sex = request.get("SEX")
    agrees = (
        soundex(request["LAST"]) == soundex(record.last)
        and request["FIRST"][:1] == record.first[:1]
        and request["BIRTH"] == format_ccyymmdd(record.dob)
        and (sex in (None, "U") or record.sex in (sex, "U"))
    )
    return CONFIRMED if agrees else NOT_CONFIRMED


def final_action(
    case: Case,
    sta: str,
    answered_by: str,
    remark: str | None,
    state: LescState,
    at: datetime,
    due: datetime | None = None,
) -> CaseAction:
    """The final YR from a technician's answer, with the detainer a confirmation lodges."""
    record = state.index.by_nic(case.nic) if case.nic else None
    lodged: CaseAction | None = None
    dtn = False
    if sta == CONFIRMED:
        note = confirmed_note(record) if record is not None else "HIT CONFIRMED BY TECHNICIAN."
        if record is not None:
            dtn = True
            if not state.desk.detainer_in_place(case.ori, record.arn):
                lodged = lodge(
                    state, input_id=case.id, line=case.line, ori=case.ori, record=record, at=at
                )
    else:
        note = "HIT NOT CONFIRMED AFTER TECHNICIAN REVIEW."
    if remark:
        note = f"{note}\nREMARKS: {remark}"
    body = yr_body(case.request, rno=case.rno, sta=sta, nao=answered_by, note=note, dtn=dtn)
    action = CaseAction(
        [Reply("YR", state.ori, case.ori, body)],
        [CaseClosed(case, at, sta, answered_by, dtn, due)],
    )
    if lodged is not None:
        action.replies += lodged.replies
        action.effects += lodged.effects
    return action


pipeline = Pipeline(
    service=LESC,
    accepts=frozenset({"YQ"}),
    steps=(
        parse_body_fields,
        validate,
        count,
        follow_up,
        identify,
        decide,
        notify_third_request,
    ),
)
