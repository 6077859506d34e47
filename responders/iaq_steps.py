"""Steps and texts of the LESC answer to an IAQ, shared by the criminal-justice and Brady runs."""

from collections.abc import Sequence
from typing import Any, Final

from formats.dates import format_ccyymmdd
from formats.iaq import IAQ, validate_iaq
from formats.message import format_fields
from responders.base import Exchange, Reply, Services
from routing.services import LESC_ORI

STATUS_SUMMARY: Final = {
    "NRF": "NO RECORD LOCATED IN THE DHS INDICES SEARCHED. THIS DOES NOT ESTABLISH STATUS.",
    "USC": "SUBJECT IS A UNITED STATES CITIZEN (NATURALIZED OR DERIVED).",
    "LPR": "SUBJECT IS A LAWFUL PERMANENT RESIDENT OF THE UNITED STATES.",
    "NIV": "SUBJECT IS A NONIMMIGRANT IN STATUS.",
    "OOS": "SUBJECT IS OUT OF STATUS AND MAY BE REMOVABLE.",
    "REM": "SUBJECT WAS PREVIOUSLY REMOVED FROM THE UNITED STATES.",
    "MLT": "SEVERAL POSSIBLE RECORDS. AN ENHANCED RESPONSE FOLLOWS.",
}
ENHANCED_FOLLOWS: Final = "AN ENHANCED RESPONSE FOLLOWS."

# 18 U.S.C. 922(g)(5): what an immigration status means for a firearms (Brady) check.
FIREARMS: Final = {
    "NRF": "FIREARMS: NO DHS RECORD; NO IMMIGRATION PROHIBITION ESTABLISHED.",
    "USC": "FIREARMS: NO IMMIGRATION PROHIBITION UNDER 18 USC 922(G)(5).",
    "LPR": "FIREARMS: NO IMMIGRATION PROHIBITION UNDER 18 USC 922(G)(5).",
    "NIV": "FIREARMS: NONIMMIGRANT VISA; 18 USC 922(G)(5)(B) PROHIBITS UNLESS 922(Y)(2) APPLIES.",
    "OOS": "FIREARMS: ILLEGALLY OR UNLAWFULLY IN THE US; 18 USC 922(G)(5)(A) PROHIBITS.",
    "REM": "FIREARMS: ILLEGALLY OR UNLAWFULLY IN THE US; 18 USC 922(G)(5)(A) PROHIBITS.",
}
# The statuses a firearms check cannot settle without a technician.
FIREARMS_MANUAL: Final = frozenset({"NIV", "OOS", "REM", "MLT"})
FIREARMS_IN_PROGRESS: Final = "FIREARMS: MANUAL CHECK IN PROGRESS. AN ENHANCED RESPONSE FOLLOWS."


def validate(exchange: Exchange) -> None:
    """Apply the IAQ field rules."""
    exchange.data["iaq"] = validate_iaq(exchange.fields, exchange.today)


def acknowledge(exchange: Exchange) -> None:
    """Tell the sender at once that the LESC has the query, with its control number."""
    exchange.reply(
        "AM",
        LESC_ORI,
        "LESC ACKNOWLEDGES RECEIPT OF IAQ. "
        f"LESC CONTROL NUMBER {exchange.control_number}",
    )


def search(exchange: Exchange) -> None:
    """Exact A-number first; otherwise Soundex surname, first initial and DOB (sex filters)."""
    iaq: IAQ = exchange.data["iaq"]
    index = exchange.services.index
    records: list[Any] | None = None
    if iaq.arn is not None:
        record = index.by_arn(iaq.arn)
        if record is not None:
            records = [record]
    if records is None:
        records = index.by_name(iaq.last, iaq.first, iaq.dob, iaq.sex)
    exchange.data["records"] = records
    exchange.data["status"] = iar_status(records)


def iar_status(records: Sequence[Any]) -> str:
    """The STS/ value for what the search found."""
    if not records:
        return "NRF"
    if len(records) > 1:
        return "MLT"
    return str(records[0].status)


def iar_body(
    *,
    nam: str,
    dob: str,
    sex: str,
    lcn: str,
    status: str,
    record: Any,
    dtn: bool,
    notes: Sequence[str] = (),
    enhanced: bool = False,
) -> str:
    """The IAR text: fields one per line, then the summary line and any further notes."""
    fields = [("NAM", nam), ("DOB", dob), ("SEX", sex), ("LCN", lcn)]
    if enhanced:
        fields.append(("ENH", "Y"))
    fields.append(("STS", status))
    if record is not None:
        fields += [("ARN", f"A{record.arn}"), ("POB", record.pob)]
        # A citizen by birth has no class of admission and may have no status date.
        if record.coa:
            fields.append(("COA", record.coa))
        if record.status_date is not None:
            fields.append(("SDT", format_ccyymmdd(record.status_date)))
        if record.ivf:
            fields += [("IVF", record.ivf), ("NIC", record.nic)]
    if dtn:
        fields.append(("DTN", "Y"))
    return "\n".join([format_fields(fields), STATUS_SUMMARY[status], *notes])


def answer(exchange: Exchange) -> None:
    """Send the Immigration Alien Response."""
    iaq: IAQ = exchange.data["iaq"]
    records: list[Any] = exchange.data["records"]
    status: str = exchange.data["status"]
    body = iar_body(
        nam=iaq.nam,
        dob=exchange.fields["DOB"],
        sex=iaq.sex,
        lcn=exchange.control_number,
        status=status,
        record=records[0] if len(records) == 1 else None,
        dtn=exchange.data.get("dtn", False),
        notes=exchange.data.get("notes", ()),
    )
    exchange.reply("IAR", LESC_ORI, body)


def add_note(exchange: Exchange, note: str) -> None:
    """Add a plain-English line under the IAR summary."""
    exchange.data.setdefault("notes", []).append(note)


def nics_copies(services: Services, requester: str, replies: Sequence[Reply]) -> list[Reply]:
    """Copies of a PUR/F response for the NICS ORI (none when NICS asked or none is set)."""
    nics = services.desk.nics_ori
    if nics is None or nics == requester:
        return []
    return [Reply(reply.mke, reply.sender, nics, reply.body) for reply in replies]
