"""Steps and texts of the LESC answer to an IAQ, shared by the criminal-justice and Brady runs."""

from collections.abc import Sequence
from datetime import date
from typing import Any, Final, NamedTuple

from formats.dates import format_ccyymmdd
from formats.errors import MessageError
from formats.iaq import IAQ, parse_iaq
from formats.message import format_fields
from formats.person import Person
from responders.base import Exchange, Reply
from responders.lesc.desk import LescState, lesc_state, name_of
from responders.lesc.indices.finding import IndexFinding, format_listing, listing_of
from responders.lesc.read_ahead import read_ahead_of

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
ACKNOWLEDGEMENT: Final = "LESC ACKNOWLEDGES RECEIPT OF IAQ."

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
FIREARMS_IN_PROGRESS: Final = "FIREARMS: MANUAL CHECK IN PROGRESS."


class Inquiry(NamedTuple):
    """The identity an IAQ asked about, held against the record that answers it (a case's
    stored query; an IAQ being answered is its own: Asked)."""

    last: str
    first: str
    middle: str
    dob: date


# The identity asked about: a validated query (an IAQ is a Person) or a stored one.
Asked = Inquiry | Person


def _letters(name: str) -> str:
    # Case, spaces, hyphens and apostrophes are spelling, not a different name.
    upper = name.upper()
    if not upper or (upper.isascii() and upper.isalpha()):
        return upper  # none, or letters only (most names): nothing to drop
    return "".join(char for char in upper if "A" <= char <= "Z")


def _same_first_name(asked: str, on_record: str) -> bool:
    asked, on_record = _letters(asked), _letters(on_record)
    if len(asked) == 1 or len(on_record) == 1:
        return asked[:1] == on_record[:1]  # given as an initial
    return asked == on_record


def same_name(inquiry: Asked, record: Any) -> bool:
    """Whether the record bears the name asked about, letter for letter (docs/lesc.md).

    Surnames and first names compare by their letters alone, a first name given as an
    initial by its initial; middle names by their initials, and only when both have one.
    """
    # Names written alike have the same letters: each test below then holds without them.
    if inquiry.last != record.last and _letters(inquiry.last) != _letters(record.last):
        return False
    if inquiry.first != record.first and not _same_first_name(inquiry.first, record.first):
        return False
    if inquiry.middle == record.middle:
        return True
    asked, on_record = _letters(inquiry.middle), _letters(record.middle)
    return not (asked and on_record) or asked[0] == on_record[0]


def identity_differences(inquiry: Asked, record: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """The IAR fields (``RNM/``, ``RDB/``) and lines that say where the record differs."""
    fields: list[tuple[str, str]] = []
    lines: list[str] = []
    if not same_name(inquiry, record):
        name = name_of(record.last, record.first, record.middle)
        fields.append(("RNM", name))
        lines.append(f"NAME ON RECORD DIFFERS FROM INQUIRY: {name}.")
    if inquiry.dob != record.dob:
        birth = format_ccyymmdd(record.dob)
        fields.append(("RDB", birth))
        lines.append(f"DOB ON RECORD {birth} DIFFERS FROM INQUIRY.")
    return fields, lines


def read_iaq(exchange: Exchange) -> None:
    """Split the body into ``TAG/value.`` fields and apply the IAQ field rules (or take them
    as the pipeline read them ahead, responders/lesc/read_ahead.py)."""
    ahead = read_ahead_of(exchange)
    if ahead is not None:
        exchange.fields, exchange.data["iaq"] = ahead.fields, ahead.iaq
    elif isinstance(exchange.prepared, MessageError):
        # The body's fault, found ahead: not parsed a second time.
        raise exchange.prepared
    else:
        exchange.fields, exchange.data["iaq"] = parse_iaq(exchange.message.body, exchange.today)


def acknowledge(exchange: Exchange) -> None:
    """Tell the sender at once that the LESC has the query, with its control number."""
    exchange.reply(
        "AM",
        lesc_state(exchange).ori,
        f"{ACKNOWLEDGEMENT} LESC CONTROL NUMBER {exchange.control_number}",
    )


def iar_body(
    *,
    nam: str,
    dob: str,
    sex: str,
    lcn: str,
    status: str,
    record: Any,
    inquiry: Asked,
    dtn: bool,
    notes: Sequence[str] = (),
    enhanced: bool = False,
    indices: Sequence[IndexFinding] = (),
    listing: str | None = None,
) -> str:
    """The IAR text: fields one per line, the summary line, then further lines.

    The fields are those of SPEC.md §4 in its order; ``RNM/`` and ``RDB/`` (where the record
    differs from the inquiry) and ``IDX/`` (the indices searched) come last, so a reader of
    the SPEC fields finds them in place. The indices' own lines follow the differences.
    ``listing`` is the ``IDX/`` value of ``indices`` when the caller has it already.
    """
    # Each field TAG/value. on a line of its own, as format_fields writes them, but written
    # here straight into the lines of the text: a pair built and formatted a field, then
    # joined twice, cost three times as much (11,400 against 4,000 instructions an IAR).
    lines = [f"NAM/{nam}.\nDOB/{dob}.\nSEX/{sex}.\nLCN/{lcn}."]
    if enhanced:
        lines.append("ENH/Y.")
    lines.append(f"STS/{status}.")
    differing: list[tuple[str, str]] = []
    differences: list[str] = []
    if record is not None:
        lines.append(f"ARN/A{record.arn}.\nPOB/{record.pob}.")
        # A citizen by birth has no class of admission and may have no status date.
        if record.coa:
            lines.append(f"COA/{record.coa}.")
        if record.status_date is not None:
            lines.append(f"SDT/{format_ccyymmdd(record.status_date)}.")
        if record.ivf:
            lines.append(f"IVF/{record.ivf}.\nNIC/{record.nic}.")
        differing, differences = identity_differences(inquiry, record)
    if dtn:
        lines.append("DTN/Y.")
    if differing:
        lines.append(format_fields(differing))
    if indices:
        lines.append(f"IDX/{format_listing(indices) if listing is None else listing}.")
    lines.append(STATUS_SUMMARY[status])
    lines += differences
    for finding in indices:
        if finding.summary:
            lines.append(finding.summary)
    lines += notes
    return "\n".join(lines)


def answer(exchange: Exchange) -> None:
    """Send the Immigration Alien Response; say once that an enhanced response follows."""
    iaq: IAQ = exchange.data["iaq"]
    records: list[Any] = exchange.data["records"]
    status: str = exchange.data["status"]
    notes: list[str] = exchange.data.get("notes", [])
    # The MLT summary already says so.
    if exchange.data.get("enhanced") and ENHANCED_FOLLOWS not in STATUS_SUMMARY[status]:
        notes = [*notes, ENHANCED_FOLLOWS]
    body = iar_body(
        nam=iaq.nam,
        dob=exchange.fields["DOB"],
        sex=iaq.sex,
        lcn=exchange.control_number,
        status=status,
        record=records[0] if len(records) == 1 else None,
        inquiry=iaq,
        dtn=exchange.data.get("dtn", False),
        notes=notes,
        indices=exchange.data.get("indices", ()),
        listing=listing_of(exchange),
    )
    exchange.reply("IAR", lesc_state(exchange).ori, body)


def add_note(exchange: Exchange, note: str) -> None:
    """Add a plain-English line under the IAR summary."""
    exchange.data.setdefault("notes", []).append(note)


def nics_copies(state: LescState, requester: str, replies: Sequence[Reply]) -> list[Reply]:
    """Copies of a PUR/F response for the NICS ORI (none when NICS asked or none is set)."""
    nics = state.desk.nics_ori
    if nics is None or nics == requester:
        return []
    return [Reply(reply.mke, reply.sender, nics, reply.body) for reply in replies]
