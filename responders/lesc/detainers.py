"""Immigration detainers: on a confirmed hit, and on an IAQ with CUS/Y for a removable subject.

The requesting agency gets an AM ``IMMIGRATION DETAINER LODGED`` and the ICE field office of
its state gets a copy. A detainer already lodged for the same agency and A-number is not
lodged again; the answer still carries ``DTN/Y``.
"""

from datetime import datetime
from typing import Any, Final

from formats.dates import format_ccyymmdd
from formats.iaq import IAQ
from formats.message import format_fields
from responders.base import Exchange, Reply
from responders.lesc import LESC_ORI
from responders.lesc.desk import CaseAction, DetainerLodged, LescState, lesc_state, name_of

DETAINER_LODGED: Final = "IMMIGRATION DETAINER LODGED"


def warrants_detainer(record: Any) -> bool:
    """A previously removed subject, or one in the Immigration Violator File."""
    return record.status == "REM" or record.ivf is not None


def ice_office(state: LescState, line: str) -> str:
    """The ICE field office ORI for a line (registry column; default ``<LINE>ICE0000``)."""
    entry = state.lines.get(line)
    return entry.ice_office_ori if entry is not None else f"{line}ICE0000"


def lodge(
    state: LescState, *, input_id: int, line: str, ori: str, record: Any, at: datetime
) -> CaseAction:
    """The notices of a new detainer (requester and ICE field office) and its record."""
    office = ice_office(state, line)
    fields = [
        ("NAM", name_of(record.last, record.first, record.middle)),
        ("DOB", format_ccyymmdd(record.dob)),
        ("ARN", f"A{record.arn}"),
    ]
    if record.nic:
        fields.append(("NIC", record.nic))
    fields += [("LCN", f"{input_id:010d}"), ("ORI", ori)]
    body = "\n".join(
        [
            DETAINER_LODGED,
            format_fields(fields),
            f"ICE FIELD OFFICE {office} WILL CONTACT THE AGENCY HOLDING THE SUBJECT.",
        ]
    )
    replies = [Reply("AM", LESC_ORI, ori, body)]
    if office != ori:
        replies.append(Reply("AM", LESC_ORI, office, body))
    effect = DetainerLodged(input_id, line, ori, record.arn, record.nic, office, at)
    return CaseAction(replies, [effect])


def check_detainer(exchange: Exchange) -> None:
    """IAQ with CUS/Y and one record that is REM or in the IVF: a detainer is (or was) lodged."""
    iaq: IAQ = exchange.data["iaq"]
    records: list[Any] = exchange.data["records"]
    if iaq.cus != "Y" or len(records) != 1 or not warrants_detainer(records[0]):
        return
    record = records[0]
    exchange.data["dtn"] = True
    if not lesc_state(exchange).desk.detainer_in_place(exchange.message.sender, record.arn):
        exchange.data["lodge"] = record


def send_detainer_notices(exchange: Exchange) -> None:
    """Send the notices of a detainer lodged by this IAQ and record it."""
    record = exchange.data.get("lodge")
    if record is None:
        return
    action = lodge(
        lesc_state(exchange),
        input_id=int(exchange.control_number),
        line=exchange.line,
        ori=exchange.message.sender,
        record=record,
        at=exchange.received_at,
    )
    exchange.outputs.extend(action.replies)
    exchange.effects.extend(action.effects)
