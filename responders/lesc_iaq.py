"""The LESC answer to an Immigration Alien Query: acknowledgement, index search, IAR."""

from typing import Any

from formats.iaq import IAQ, validate_iaq
from formats.message import format_fields
from responders.base import Exchange, Pipeline
from responders.common import parse_body_fields
from routing.services import LESC, LESC_ORI

STATUS_SUMMARY = {
    "NRF": "NO RECORD LOCATED IN THE DHS INDICES SEARCHED. THIS DOES NOT ESTABLISH STATUS.",
    "USC": "SUBJECT IS A UNITED STATES CITIZEN (NATURALIZED OR DERIVED).",
    "LPR": "SUBJECT IS A LAWFUL PERMANENT RESIDENT OF THE UNITED STATES.",
    "NIV": "SUBJECT IS A NONIMMIGRANT IN STATUS.",
    "OOS": "SUBJECT IS OUT OF STATUS AND MAY BE REMOVABLE.",
    "REM": "SUBJECT WAS PREVIOUSLY REMOVED FROM THE UNITED STATES.",
    "MLT": "SEVERAL POSSIBLE RECORDS. AN ENHANCED RESPONSE FOLLOWS.",
}


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
    if iaq.arn is not None:
        record = index.by_arn(iaq.arn)
        if record is not None:
            exchange.data["records"] = [record]
            return
    exchange.data["records"] = index.by_name(iaq.last, iaq.first, iaq.dob, iaq.sex)


def iar_status(records: list[Any]) -> str:
    """The STS/ value for what the search found."""
    if not records:
        return "NRF"
    if len(records) > 1:
        return "MLT"
    return str(records[0].status)


def answer(exchange: Exchange) -> None:
    """Send the Immigration Alien Response."""
    iaq: IAQ = exchange.data["iaq"]
    records: list[Any] = exchange.data["records"]
    status = iar_status(records)
    exchange.data["status"] = status
    fields = [
        ("NAM", iaq.nam),
        ("DOB", exchange.fields["DOB"]),
        ("SEX", iaq.sex),
        ("LCN", exchange.control_number),
        ("STS", status),
    ]
    if len(records) == 1:
        record = records[0]
        fields += [
            ("ARN", f"A{record.arn}"),
            ("POB", record.pob),
            ("COA", record.coa),
            ("SDT", record.status_date.strftime("%Y%m%d")),
        ]
        if record.ivf:
            fields += [("IVF", record.ivf), ("NIC", record.nic)]
    body = format_fields(fields) + "\n" + STATUS_SUMMARY[status]
    exchange.reply("IAR", LESC_ORI, body)


pipeline = Pipeline(
    service=LESC,
    accepts=frozenset({"IAQ"}),
    steps=(parse_body_fields, validate, acknowledge, search, answer),
)
