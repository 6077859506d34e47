"""The optional CSV of each index (``IAQGW_INDEX_DATA``, docs/data-files.md): who it holds.

Without a file an index holds its synthetic data (drawn from the A-number); with one it holds
exactly the people the file lists, each a person of the immigration index. The files are read
once at start, as every data file is (formats/datafile.py), and refused with the line, the
column, the rule and the fix.
"""

import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final

from pydantic import BeforeValidator, Field

from formats.datafile import (
    CsvRow,
    DataFileError,
    FirstLines,
    SettingError,
    ccyymmdd,
    read_rows,
    refuse,
    unreadable,
    upper,
)
from responders.lesc.desk import RecordLookup
from responders.lesc.records import arn_cell

_STATE_RE: Final = re.compile(r"[A-Z]{2}")
# NSEERS registration ran from 11 September 2002 until DHS delisted every country.
NSEERS_FROM: Final = date(2002, 9, 11)
NSEERS_UNTIL: Final = date(2011, 4, 28)
_YES_NO: Final = {"Y": True, "YES": True, "N": False, "NO": False}


def parse_states(text: str) -> tuple[str, ...]:
    """State codes separated by spaces or commas (``CA TX``), each once; ValueError otherwise."""
    codes = text.upper().replace(",", " ").split()
    if not codes:
        raise ValueError("no state")
    seen: set[str] = set()
    for code in codes:
        if _STATE_RE.fullmatch(code) is None:
            raise ValueError(f"{code!r} is not a 2-letter state code")
        if code in seen:
            raise ValueError(f"{code} is listed twice")
        seen.add(code)
    return tuple(codes)


def _states(value: str | None) -> tuple[str, ...]:
    try:
        return parse_states(value or "")
    except ValueError as exc:
        raise refuse(str(exc), "list each state holding records once, e.g. CA TX") from None


def _choice(choices: Iterable[str], what: str) -> Any:
    allowed = tuple(choices)

    def check(value: str | None) -> str:
        text = upper(value)
        if text not in allowed:
            raise refuse(f"{text!r} is not {what}", f"write {' or '.join(allowed)}")
        return text

    return BeforeValidator(check)


def _registered(value: str | None) -> date:
    day = ccyymmdd(upper(value), "registration date")
    if not NSEERS_FROM <= day <= NSEERS_UNTIL:
        raise refuse(
            f"{day:%Y%m%d} is outside NSEERS ({NSEERS_FROM:%Y%m%d} to {NSEERS_UNTIL:%Y%m%d})",
            "correct the registration date",
        )
    return day


def _complied(value: str | None) -> bool:
    text = upper(value)
    if text not in _YES_NO:
        raise refuse(f"{text!r} is not Y or N", "write Y (complied) or N (failed to comply)")
    return _YES_NO[text]


class _IndexRow(CsvRow):
    arn: Annotated[str, BeforeValidator(arn_cell)]

    def value(self) -> Any:
        """What the index holds about this person."""
        raise NotImplementedError


class HistoryRow(_IndexRow):
    """A person with a criminal history in III (``iii.csv``): the states that hold it."""

    empty_fix: ClassVar[str] = "add people, or remove iii.csv for III's synthetic data"
    states: Annotated[tuple[str, ...], BeforeValidator(_states)]

    def value(self) -> tuple[str, ...]:
        """The state repositories, in the order given."""
        return self.states


class StudentRow(_IndexRow):
    """A student or exchange visitor in SEVIS (``sevis.csv``)."""

    empty_fix: ClassVar[str] = "add people, or remove sevis.csv for SEVIS's synthetic data"
    coa: Annotated[str, _choice(("F1", "M1", "J1"), "a SEVIS class")]
    record: Annotated[str, _choice(("ACTIVE", "TERMINATED"), "a SEVIS record status")]

    def value(self) -> tuple[str, str]:
        """Class of admission and record status."""
        return self.coa, self.record


class EncounterRow(_IndexRow):
    """A person with biometric encounters in IDENT (``ident.csv``)."""

    empty_fix: ClassVar[str] = "add people, or remove ident.csv for IDENT's synthetic data"
    encounters: int = Field(ge=1, le=99)

    def value(self) -> int:
        """How many encounters."""
        return self.encounters


class RegistrationRow(_IndexRow):
    """A special registration in NSEERS (``nseers.csv``)."""

    empty_fix: ClassVar[str] = "add people, or remove nseers.csv for NSEERS's synthetic data"
    registered: Annotated[date, BeforeValidator(_registered)]
    complied: Annotated[bool, BeforeValidator(_complied)]

    def value(self) -> tuple[date, bool]:
        """Registration day and whether the registrant complied."""
        return self.registered, self.complied


FILES: Final[dict[str, tuple[str, type[_IndexRow]]]] = {
    "III": ("iii.csv", HistoryRow),
    "SEVIS": ("sevis.csv", StudentRow),
    "IDENT": ("ident.csv", EncounterRow),
    "NSEERS": ("nseers.csv", RegistrationRow),
}


def load_tables(directory: Path | None, index: RecordLookup) -> dict[str, dict[str, Any]]:
    """The tables of the index files in ``directory`` by index name, each keyed by A-number.

    Raises SettingError for a directory that is not one or holds none of the files, and
    DataFileError for the first unusable value of a file.
    """
    if directory is None:
        return {}
    names = ", ".join(file for file, _ in FILES.values())
    if not directory.is_dir():
        raise SettingError(
            f"IAQGW_INDEX_DATA: {directory} is not a directory; give the directory that holds"
            f" the index files ({names})"
        )
    tables = {
        name: _read(directory / file, model, index)
        for name, (file, model) in FILES.items()
        if (directory / file).exists()
    }
    if not tables:
        raise SettingError(
            f"IAQGW_INDEX_DATA: {directory} holds none of {names}; add one, or leave"
            " IAQGW_INDEX_DATA unset for the synthetic data"
        )
    return tables


def _read(path: Path, model: type[_IndexRow], index: RecordLookup) -> dict[str, Any]:
    source = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise unreadable(source, exc) from None
    arns = FirstLines(
        source, "arn", "list each person once: remove or merge the rows", "A{}".format
    )
    table: dict[str, Any] = {}
    with handle:
        for line, row in read_rows(handle, source, model):
            arns.add(line, row.arn)
            if index.by_arn(row.arn) is None:
                raise DataFileError(
                    source, line, "arn", f"A{row.arn} is not in the immigration index",
                    "add the person to the records CSV (--records), or remove the row",
                )  # fmt: skip
            table[row.arn] = row.value()
    return table
