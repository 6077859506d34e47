"""NSEERS: special registration of nonimmigrant men from 25 countries (2002-2011), by A-number,
then name + DOB.

From September 2002 men over 16 from the listed countries registered at entry or, if already
here, at a call-in; the program ended in April 2011 and its records stay. Synthetic data:
every NSEERS violator of the IVF (registered, did not comply), and half the men of the central
index born in a listed country before 15 November 1986 who are not citizens (complied), each
registered on a day of the call-in period drawn from the A-number.
"""

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Final

from formats.dates import format_ccyymmdd
from responders.base import Exchange
from responders.lesc.indices.finding import IndexFinding
from responders.lesc.indices.identifiers import fin, uniforms
from responders.lesc.indices.subjects import subjects_of

NAME: Final = "NSEERS"
MISS: Final = IndexFinding(NAME, False)
# ISO 3166 codes of the 25 countries, as the records write them, less the three that are also
# NCIC state codes (ID Indonesia, MA Morocco, SD Sudan): as a place of birth they mean a state.
COUNTRIES: Final = frozenset({
    "AF", "DZ", "BH", "BD", "EG", "ER", "IR", "IQ", "JO", "KW", "LB",
    "LY", "KP", "OM", "PK", "QA", "SA", "SO", "SY", "TN", "AE", "YE",
})  # fmt: skip
REGISTERED_SHARE: Final = 0.5
# Men who were at least 16 when the call-ins began.
_BORN_BY: Final = date(1986, 11, 15)
_CALL_IN: Final = date(2002, 11, 15)
_CALL_IN_DAYS: Final = (date(2003, 4, 25) - _CALL_IN).days
_VIOLATOR: Final = "NSEERS VIOLATOR"


def registration(
    record: Any, table: Mapping[str, tuple[date, bool]] | None = None
) -> tuple[date, bool] | None:
    """The day this person registered under NSEERS and whether he complied, or None.

    ``table`` is nseers.csv's, when given (files.py): it replaces the synthetic data.
    """
    if table is not None:
        return table.get(record.arn)
    violator = record.ivf == _VIOLATOR
    if not violator and not (
        record.sex == "M"
        and record.pob in COUNTRIES
        and record.dob <= _BORN_BY
        and record.status != "USC"
    ):
        return None
    registered, day, _, _ = uniforms(NAME, record.arn)
    if not violator and registered >= REGISTERED_SHARE:
        return None
    return _CALL_IN + timedelta(days=int(day * (_CALL_IN_DAYS + 1))), not violator


def search(exchange: Exchange) -> None:
    """Find the subject's special registration."""
    people = subjects_of(exchange)
    table = people.tables.get(NAME)
    found: list[tuple[Any, tuple[date, bool]]] = []
    for record in people.chosen(arn=True):
        held = registration(record, table)
        if held is not None:
            found.append((record, held))
    if not found:
        people.findings.append(MISS)
        return
    detail: list[tuple[str, str]] = []
    entries: list[str] = []
    for record, (day, kept) in found:
        complied = "COMPLIED" if kept else "FAILED TO COMPLY"
        number, registered = fin(record.arn), format_ccyymmdd(day)
        detail += [("FIN", number), ("REGISTERED", registered), ("COMPLIANCE", complied)]
        entries.append(f"REGISTERED {registered}, FIN {number}, {complied}")
    summary = f"{NAME}: SPECIAL REGISTRATION: {'; '.join(entries)}."
    people.findings.append(IndexFinding(NAME, True, tuple(detail), summary))
