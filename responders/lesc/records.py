"""The records CSV (``--records``, SPEC.md §5): one person a row, checked at the edge.

Read as formats/datafile.py reads every data file; what cannot be used is refused with a
DataFileError naming the line, the column, the rule and the fix (docs/data-files.md). The
immigration index (index.py) is built from these rows, or generated.
"""

import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, ClassVar, Final, Literal

from pydantic import BeforeValidator, ValidationInfo

from formats.datafile import (
    CsvRow,
    FirstLines,
    ccyymmdd,
    read_rows,
    refuse,
    today_of,
    unreadable,
    upper,
    words,
)
from responders.lesc.index import (
    IVF_CATEGORIES,
    STATUSES,
    ImmigrationIndex,
    Record,
    build_from_records,
    build_synthetic,
    is_current,
    normalize_arn,
    sidecar_is_current,
    write_sidecar,
)

NAME_MAX: Final = 30
# What ensure_index did: made the index, made it again (newer records, an older version), wrote
# its packed sidecar again (missing or stale), or found it current.
IndexOutcome = Literal["built", "rebuilt", "repacked", "reused"]
_NAME_RE: Final = re.compile(r"[A-Z](?:[A-Z '-]*[A-Z])?")
_NAME_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ '-")
# Typographic apostrophes and accents that word processors put in names.
_APOSTROPHES: Final = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc`\u00b4", "'"))
_CODE2_RE: Final = re.compile(r"[A-Z]{2}")
_COA_RE: Final = re.compile(r"[A-Z0-9]{1,4}")
_NIC_RE: Final = re.compile(r"[A-Z][0-9]{9}")
_SEXES: Final = {"M": "M", "F": "F", "U": "U", "MALE": "M", "FEMALE": "F", "UNKNOWN": "U"}


def arn_cell(value: str | None) -> str:
    """An A-number cell as 9 digits: hyphens and spaces dropped, 8 digits get a leading 0."""
    text = upper(value)
    if not text:
        raise refuse("empty", "give the A-number: 8 or 9 digits, with or without a leading A")
    number = normalize_arn(text.replace("-", "").replace(" ", ""))
    if number is None:
        raise refuse(
            f"{text!r} is not an A-number", "write 8 or 9 digits, with or without a leading A"
        )
    return number


def _name(value: str | None, info: ValidationInfo) -> str:
    raw = words(value)
    text = raw.upper()
    if not raw.isascii():
        # Accented Latin letters become the plain letters NCIC names are written in (MUÑOZ
        # is MUNOZ), typographic apostrophes the plain one.
        decomposed = unicodedata.normalize("NFKD", raw.translate(_APOSTROPHES))
        text = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    if not text:
        if info.field_name == "middle":
            return ""
        raise refuse("empty", f"give the {info.field_name} name")
    if not _NAME_RE.fullmatch(text):
        bad = next((c for c in text if c not in _NAME_CHARS), None)
        if bad is not None:
            raise refuse(
                f"{raw!r} is not a name: {bad!r} is not a letter, space, hyphen or apostrophe",
                "spell the name with the letters A-Z as on the person's documents",
            )
        raise refuse(
            f"{raw!r} is not a name: it must start and end with a letter",
            "remove the punctuation at its start or end",
        )
    if len(text) > NAME_MAX:
        raise refuse(
            f"{raw!r} has {len(text)} characters, more than {NAME_MAX}",
            f"shorten it to {NAME_MAX} as NCIC does",
        )
    return text


def _dob(value: str | None, info: ValidationInfo) -> date:
    text = upper(value)
    if not text:
        raise refuse("empty", "give the date of birth as CCYYMMDD")
    born = ccyymmdd(text, "date of birth")
    today = today_of(info)
    if born > today:
        raise refuse(f"{text} is after today ({today:%Y%m%d})", "correct the date of birth")
    return born


def _sex(value: str | None) -> str:
    text = upper(value)
    sex = _SEXES.get(text)
    if sex is None:
        raise refuse(f"{text!r} is not M, F or U", "write M, F or U (U when unknown)")
    return sex


def _pob(value: str | None) -> str:
    text = upper(value)
    if not _CODE2_RE.fullmatch(text):
        raise refuse(
            f"{text!r} is not a 2-letter country code",
            "write the NCIC code of the place of birth, e.g. MX",
        )
    return text


def _status(value: str | None) -> str:
    text = upper(value)
    if text not in STATUSES:
        raise refuse(f"{text!r} is not a status", "write USC, LPR, NIV, OOS or REM")
    return text


def _coa(value: str | None) -> str:
    text = upper(value)
    if text and not _COA_RE.fullmatch(text):
        raise refuse(
            f"{text!r} is not a class of admission code",
            "write 1 to 4 letters or digits (IR1, H1B, EWI), or leave it empty when there is none",
        )
    return text


def _status_date(value: str | None, info: ValidationInfo) -> date | None:
    text = upper(value)
    if not text:
        return None
    granted = ccyymmdd(text, "status date")
    today = today_of(info)
    if granted > today:
        raise refuse(f"{text} is after today ({today:%Y%m%d})", "correct the status date")
    born = info.data.get("dob")
    if born is not None and granted < born:
        raise refuse(
            f"{text} is before the date of birth {born:%Y%m%d}", "correct one of the two dates"
        )
    return granted


def _ivf(value: str | None) -> str | None:
    text = words(value).upper()
    if not text:
        return None
    if text not in IVF_CATEGORIES:
        raise refuse(
            f"{text!r} is not an IVF category",
            "write DEPORTED FELON, ABSCONDER or NSEERS VIOLATOR, or leave it empty",
        )
    return text


def _nic(value: str | None, info: ValidationInfo) -> str | None:
    text = upper(value)
    # An ivf cell that failed its own check is not in info.data: say nothing more about it.
    if "ivf" not in info.data:
        return text or None
    ivf = info.data["ivf"]
    if not text:
        if ivf is not None:
            raise refuse(
                f"empty, but ivf is {ivf}",
                "give the NCIC number of the IVF record (a letter and 9 digits)",
            )
        return None
    if ivf is None:
        raise refuse(
            f"{text!r} without an ivf category",
            "give the ivf category of the record, or leave nic empty",
        )
    if not _NIC_RE.fullmatch(text):
        raise refuse(
            f"{text!r} is not an NCIC number", "write a letter and 9 digits, e.g. I123456789"
        )
    return text


class RecordRow(CsvRow):
    """One person of the records CSV (``--records``)."""

    empty_fix: ClassVar[str] = "add records, or leave out --records to serve the synthetic index"

    arn: Annotated[str, BeforeValidator(arn_cell)]
    last: Annotated[str, BeforeValidator(_name)]
    first: Annotated[str, BeforeValidator(_name)]
    middle: Annotated[str, BeforeValidator(_name)] = ""
    dob: Annotated[date, BeforeValidator(_dob)]
    sex: Annotated[str, BeforeValidator(_sex)]
    pob: Annotated[str, BeforeValidator(_pob)]
    status: Annotated[str, BeforeValidator(_status)]
    coa: Annotated[str, BeforeValidator(_coa)] = ""
    status_date: Annotated[date | None, BeforeValidator(_status_date)] = None
    ivf: Annotated[str | None, BeforeValidator(_ivf)] = None
    nic: Annotated[str | None, BeforeValidator(_nic)] = None

    def record(self) -> Record:
        """The index record of this row."""
        return Record(
            self.arn, self.last, self.first, self.middle, self.dob, self.sex, self.pob,
            self.status, self.coa, self.status_date, self.ivf, self.nic,
        )  # fmt: skip


def _unique(source: Path, rows: Iterable[tuple[int, RecordRow]]) -> Iterator[Record]:
    arns = FirstLines(
        str(source), "arn", "list each person once: remove or merge the rows", "A{}".format
    )
    nics = FirstLines(
        str(source), "nic", "each IVF record has its own NCIC number: correct one of them"
    )
    for line, row in rows:
        arns.add(line, row.arn)
        if row.nic is not None:
            nics.add(line, row.nic)
        yield row.record()


def build_from_csv(path_db: Path, csv_path: Path, today: date | None = None) -> int:
    """Build the index from a records CSV (SPEC.md §5); returns the record count.

    ``today`` (default: the current date) is what dates in the future are judged against.
    Raises DataFileError naming the line and column of the first unusable value; the index
    file is then left as it was.
    """
    try:
        handle = csv_path.open("rb")
    except OSError as exc:
        raise unreadable(str(csv_path), exc) from None
    with handle:
        rows = read_rows(handle, str(csv_path), RecordRow, today)
        return build_from_records(path_db, _unique(csv_path, rows))


def ensure_index(
    index_path: Path, records: Path | None, synthetic_records: int, today: date | None = None
) -> IndexOutcome:
    """Build the index when it is missing, or again when the records CSV is newer or the file
    was built by an older version; write its packed sidecar again when missing or stale."""
    if not index_path.exists():
        outcome: IndexOutcome = "built"
    elif (records is not None and index_path.stat().st_mtime < records.stat().st_mtime) or (
        not is_current(index_path)
    ):
        outcome = "rebuilt"
    elif not sidecar_is_current(index_path):
        write_sidecar(index_path)
        return "repacked"
    else:
        return "reused"
    index_path.parent.mkdir(parents=True, exist_ok=True)
    if records is not None:
        build_from_csv(index_path, records, today)
    else:
        build_synthetic(index_path, synthetic_records)
    return outcome


def open_index(index_path: Path, records: Path | None, synthetic_records: int) -> ImmigrationIndex:
    """Open the index, building it first when needed."""
    ensure_index(index_path, records, synthetic_records)
    return ImmigrationIndex.open(index_path)


def index_path(data_dir: Path, records: Path | None, synthetic_records: int) -> Path:
    """Where the index built from ``records``, or generated with that many records, is kept."""
    if records is not None:
        return data_dir / f"index-{records.stem}.sqlite3"
    return data_dir / f"index-synthetic-{synthetic_records}.sqlite3"
