"""Immigration detainers: on a confirmed hit, and on an IAQ with CUS/Y for a removable subject.

The requesting agency gets an AM ``IMMIGRATION DETAINER LODGED`` carrying what DHS Form
I-247A says (docs/lesc.md) and the ICE field office of its state gets a copy. A detainer
already lodged for the same agency and A-number is not lodged again; the answer still
carries ``DTN/Y``.
"""

from datetime import datetime
from typing import Any, Final

from formats.dates import format_ccyymmdd
from formats.iaq import IAQ
from formats.message import format_fields
from responders.base import Exchange, Reply
from responders.lesc.biometric import requester
from responders.lesc.desk import CaseAction, DetainerLodged, LescState, lesc_state, name_of
from routing.lines import default_ice_office_ori

DETAINER_LODGED: Final = "IMMIGRATION DETAINER LODGED"
FORM: Final = "DHS FORM I-247A IMMIGRATION DETAINER - NOTICE OF ACTION"
# The bases Form I-247A lists that the index can show: a removal order on file (a removed
# subject, a deported felon, an absconder), else the records check of federal databases.
BASIS_ORDER: Final = "A FINAL ORDER OF REMOVAL AGAINST THE SUBJECT"
BASIS_RECORDS: Final = (
    "RECORDS CHECKS OF FEDERAL DATABASES THAT AFFIRMATIVELY INDICATE THE SUBJECT LACKS"
    " IMMIGRATION STATUS OR IS REMOVABLE UNDER U.S. IMMIGRATION LAW"
)
REQUESTS: Final = (
    "IT IS REQUESTED THAT YOU:",
    "NOTIFY DHS AS EARLY AS PRACTICABLE (AT LEAST 48 HOURS, IF POSSIBLE) BEFORE THE SUBJECT"
    " IS RELEASED FROM YOUR CUSTODY.",
    "MAINTAIN CUSTODY OF THE SUBJECT FOR A PERIOD NOT TO EXCEED 48 HOURS BEYOND THE TIME WHEN"
    " THE SUBJECT WOULD OTHERWISE HAVE BEEN RELEASED FROM YOUR CUSTODY.",
    "A COPY OF THIS DETAINER MUST BE SERVED ON THE SUBJECT FOR IT TO TAKE EFFECT.",
)


def warrants_detainer(record: Any) -> bool:
    """A previously removed subject, or one in the Immigration Violator File."""
    return record.status == "REM" or record.ivf is not None


def removability_basis(record: Any) -> str:
    """Why DHS holds the subject removable, as Form I-247A words the basis."""
    if record.status == "REM" or record.ivf in ("DEPORTED FELON", "ABSCONDER"):
        return BASIS_ORDER
    return BASIS_RECORDS


def ice_office(state: LescState, line: str) -> str:
    """The ICE field office ORI for a line (registry column; default ``<LINE>ICE0000``)."""
    entry = state.lines.get(line)
    return entry.ice_office_ori if entry is not None else default_ice_office_ori(line)


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
            FORM,
            "DHS HAS DETERMINED THAT PROBABLE CAUSE EXISTS THAT THE SUBJECT IS A REMOVABLE"
            f" ALIEN. THIS DETERMINATION IS BASED ON {removability_basis(record)}.",
            *REQUESTS,
            f"CONTACT ICE FIELD OFFICE {office}; IF NO OFFICIAL CAN BE REACHED, THE LAW"
            f" ENFORCEMENT SUPPORT CENTER AT {state.ori}.",
        ]
    )
    replies = [Reply("AM", state.ori, ori, body)]
    if office != ori:
        replies.append(Reply("AM", state.ori, office, body))
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
    if not lesc_state(exchange).desk.detainer_in_place(requester(exchange)[0], record.arn):
        exchange.data["lodge"] = record


def send_detainer_notices(exchange: Exchange) -> None:
    """Send the notices of a detainer lodged by this IAQ and record it."""
    record = exchange.data.get("lodge")
    if record is None:
        return
    ori, line = requester(exchange)
    action = lodge(
        lesc_state(exchange),
        input_id=int(exchange.control_number),
        line=line,
        ori=ori,
        record=record,
        at=exchange.received_at,
    )
    exchange.outputs.extend(action.replies)
    exchange.effects.extend(action.effects)
