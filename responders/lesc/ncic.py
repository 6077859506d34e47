"""NCIC IVF inquiry: a ``QW`` to ``NCIC`` answered by a ``QR`` from ``DCFBIWA00`` (SPEC.md §6)."""

from typing import Any, Final

from formats.dates import format_ccyymmdd
from formats.hitconf import QW, validate_qw
from formats.message import format_fields
from responders.base import Exchange, Pipeline
from responders.lesc import NCIC, NCIC_ORI
from responders.lesc.common import count_query, parse_body_fields
from responders.lesc.desk import lesc_state, name_of

NO_RECORD: Final = "NO NCIC IMMIGRATION VIOLATOR RECORD"
CAVEAT: Final = "CONFIRM HIT WITH LESC BY YQ TO VTINS07S0 BEFORE TAKING ACTION"
# What each IVF category is, as the file's entry criteria describe it (docs/lesc.md): a
# deported felon's reentry is a crime; an absconder's warrant of removal and an NSEERS
# violation are civil, so those QRs say no criminal warrant stands behind the record.
CATEGORY_NOTES: Final[dict[str, tuple[str, ...]]] = {
    "DEPORTED FELON": (
        "CRIMINAL - SUBJECT WAS DEPORTED AFTER CONVICTION FOR DRUG OR FIREARMS"
        " TRAFFICKING OR A SERIOUS VIOLENT CRIME.",
        "REENTRY AFTER REMOVAL WITHOUT PERMISSION IS A FEDERAL FELONY (8 USC 1326).",
    ),
    "ABSCONDER": (
        "CIVIL - SUBJECT FAILED TO DEPART AFTER A FINAL ORDER OF REMOVAL.",
        "ICE HOLDS AN ADMINISTRATIVE WARRANT OF REMOVAL (DHS FORM I-205).",
        "THIS IS NOT A CRIMINAL WARRANT.",
    ),
    "NSEERS VIOLATOR": (
        "CIVIL - SUBJECT FAILED TO COMPLY WITH NSEERS SPECIAL REGISTRATION.",
        "NO CRIMINAL WARRANT IS ON FILE FOR THIS VIOLATION.",
    ),
}


def validate(exchange: Exchange) -> None:
    """Apply the QW rules (NAM and DOB required, SEX optional)."""
    exchange.data["qw"] = validate_qw(exchange.fields, exchange.today)


def count(exchange: Exchange) -> None:
    """Count the inquiry for the yearly figures."""
    count_query(exchange, "QW")


def search(exchange: Exchange) -> None:
    """The name search, restricted to the Immigration Violator File."""
    qw: QW = exchange.data["qw"]
    index = lesc_state(exchange).index
    exchange.data["hits"] = index.ivf_by_name(qw.last, qw.first, qw.dob, qw.sex)


def hit_text(record: Any) -> str:
    """One IVF record as NCIC shows it: its fields, what its category means, the caveat."""
    fields = [
        ("MKE", f"IMMIGRATION VIOLATOR - {record.ivf}"),
        ("NIC", record.nic),
        ("NAM", name_of(record.last, record.first, record.middle)),
        ("DOB", format_ccyymmdd(record.dob)),
        ("SEX", record.sex),
        ("POB", record.pob),
        ("ARN", f"A{record.arn}"),
    ]
    return "\n".join([format_fields(fields), *CATEGORY_NOTES[record.ivf], CAVEAT])


def answer(exchange: Exchange) -> None:
    """Send the QR: each hit, blank-line separated, or the no-record line with the query."""
    hits: list[Any] = exchange.data["hits"]
    if hits:
        body = "\n\n".join(hit_text(record) for record in hits)
    else:
        query = [("NAM", exchange.fields["NAM"]), ("DOB", exchange.fields["DOB"])]
        if "SEX" in exchange.fields:
            query.append(("SEX", exchange.fields["SEX"]))
        body = NO_RECORD + "\n" + format_fields(query)
    exchange.reply("QR", NCIC_ORI, body)


pipeline = Pipeline(
    service=NCIC,
    accepts=frozenset({"QW"}),
    steps=(parse_body_fields, validate, count, search, answer),
)
