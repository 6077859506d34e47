"""The rows of the operator's CSV files (SPEC.md §5), checked at the edge by pydantic models.

Files are read as people export them: UTF-8 with or without a byte-order mark, CRLF, LF or CR
line ends, columns in any order, header names and values in any letter case, spaces around
values. Whatever cannot be used is refused with a DataFileError: one line naming the file, the
line, the column, the rule and the fix (docs/data-files.md).
"""

import codecs
import csv
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, BinaryIO, ClassVar, Final, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from gateway.config import SettingError
from gateway.index import IVF_CATEGORIES, STATUSES, Record, normalize_arn
from routing.lines import (
    HASH_SCHEME,
    default_control_ori,
    default_ice_office_ori,
    is_well_formed_key,
)
from routing.oris import LINE_CODE_RE, ORI_RE
from routing.services import SERVICE_ORIS

NAME_MAX: Final = 30
UTF8_FIX: Final = "save the file as UTF-8 (in a spreadsheet: Save As, CSV UTF-8)"
_CUSTOM: Final = "data_file"
_NAME_RE: Final = re.compile(r"[A-Z](?:[A-Z '-]*[A-Z])?")
_NAME_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ '-")
# Typographic apostrophes and accents that word processors put in names.
_APOSTROPHES: Final = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc`\u00b4", "'"))
_DATE_RE: Final = re.compile(r"[0-9]{8}")
_CODE2_RE: Final = re.compile(r"[A-Z]{2}")
_COA_RE: Final = re.compile(r"[A-Z0-9]{1,4}")
_NIC_RE: Final = re.compile(r"[A-Z][0-9]{9}")
_SEXES: Final = {"M": "M", "F": "F", "U": "U", "MALE": "M", "FEMALE": "F", "UNKNOWN": "U"}


class DataFileError(SettingError):
    """A data file the gateway cannot use: where (file, line, column), what is wrong, the fix."""

    def __init__(
        self, source: str, line: int | None, column: str | None, problem: str, fix: str
    ) -> None:
        where = source
        if line is not None:
            where += f" line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {problem}; {fix}")
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem
        self.fix = fix


def _refuse(problem: str, fix: str) -> PydanticCustomError:
    # The problem is the message; the fix rides along in the context for DataFileError.
    return PydanticCustomError(_CUSTOM, "{problem}", {"problem": problem, "fix": fix})


def _upper(value: str | None) -> str:
    """A code cell: spaces around it trimmed, upper case."""
    return (value or "").strip().upper()


def _words(value: str | None) -> str:
    """A cell of words: spaces around it trimmed and runs of them made one."""
    return " ".join((value or "").split())


def _today(info: ValidationInfo) -> date:
    context = info.context or {}
    today = context.get("today")
    return today if isinstance(today, date) else date.today()


def _ccyymmdd(text: str, what: str) -> date:
    if not _DATE_RE.fullmatch(text):
        raise _refuse(
            f"{text!r} is not a date as CCYYMMDD",
            f"write the {what} like 19850314 (format the column as text so the spreadsheet"
            " keeps it)",
        )
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise _refuse(f"{text} is not a real date", f"correct the {what}") from None


class CsvRow(BaseModel):
    """A row of a data file: the columns are the fields; a field with a default may be left out."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    # What to do about a file with a header and no rows.
    empty_fix: ClassVar[str] = "add rows under the header"

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """Every column, in the documented order."""
        return tuple(cls.model_fields)

    @classmethod
    def required_columns(cls) -> tuple[str, ...]:
        """The columns the header must hold."""
        return tuple(name for name, field in cls.model_fields.items() if field.is_required())


# ---------------------------------------------------------------------------------------------
# Records (--records)


def _arn(value: str | None) -> str:
    text = _upper(value)
    if not text:
        raise _refuse("empty", "give the A-number: 8 or 9 digits, with or without a leading A")
    number = normalize_arn(text.replace("-", "").replace(" ", ""))
    if number is None:
        raise _refuse(
            f"{text!r} is not an A-number", "write 8 or 9 digits, with or without a leading A"
        )
    return number


def _name(value: str | None, info: ValidationInfo) -> str:
    raw = _words(value)
    text = raw.upper()
    if not raw.isascii():
        # Accented Latin letters become the plain letters NCIC names are written in (MUÑOZ
        # is MUNOZ), typographic apostrophes the plain one.
        decomposed = unicodedata.normalize("NFKD", raw.translate(_APOSTROPHES))
        text = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    if not text:
        if info.field_name == "middle":
            return ""
        raise _refuse("empty", f"give the {info.field_name} name")
    if not _NAME_RE.fullmatch(text):
        bad = next((c for c in text if c not in _NAME_CHARS), None)
        if bad is not None:
            raise _refuse(
                f"{raw!r} is not a name: {bad!r} is not a letter, space, hyphen or apostrophe",
                "spell the name with the letters A-Z as on the person's documents",
            )
        raise _refuse(
            f"{raw!r} is not a name: it must start and end with a letter",
            "remove the punctuation at its start or end",
        )
    if len(text) > NAME_MAX:
        raise _refuse(
            f"{raw!r} has {len(text)} characters, more than {NAME_MAX}",
            f"shorten it to {NAME_MAX} as NCIC does",
        )
    return text


def _dob(value: str | None, info: ValidationInfo) -> date:
    text = _upper(value)
    if not text:
        raise _refuse("empty", "give the date of birth as CCYYMMDD")
    born = _ccyymmdd(text, "date of birth")
    today = _today(info)
    if born > today:
        raise _refuse(f"{text} is after today ({today:%Y%m%d})", "correct the date of birth")
    return born


def _sex(value: str | None) -> str:
    text = _upper(value)
    sex = _SEXES.get(text)
    if sex is None:
        raise _refuse(f"{text!r} is not M, F or U", "write M, F or U (U when unknown)")
    return sex


def _pob(value: str | None) -> str:
    text = _upper(value)
    if not _CODE2_RE.fullmatch(text):
        raise _refuse(
            f"{text!r} is not a 2-letter country code",
            "write the NCIC code of the place of birth, e.g. MX",
        )
    return text


def _status(value: str | None) -> str:
    text = _upper(value)
    if text not in STATUSES:
        raise _refuse(f"{text!r} is not a status", "write USC, LPR, NIV, OOS or REM")
    return text


def _coa(value: str | None) -> str:
    text = _upper(value)
    if text and not _COA_RE.fullmatch(text):
        raise _refuse(
            f"{text!r} is not a class of admission code",
            "write 1 to 4 letters or digits (IR1, H1B, EWI), or leave it empty when there is none",
        )
    return text


def _status_date(value: str | None, info: ValidationInfo) -> date | None:
    text = _upper(value)
    if not text:
        return None
    granted = _ccyymmdd(text, "status date")
    today = _today(info)
    if granted > today:
        raise _refuse(f"{text} is after today ({today:%Y%m%d})", "correct the status date")
    born = info.data.get("dob")
    if born is not None and granted < born:
        raise _refuse(
            f"{text} is before the date of birth {born:%Y%m%d}", "correct one of the two dates"
        )
    return granted


def _ivf(value: str | None) -> str | None:
    text = _words(value).upper()
    if not text:
        return None
    if text not in IVF_CATEGORIES:
        raise _refuse(
            f"{text!r} is not an IVF category",
            "write DEPORTED FELON, ABSCONDER or NSEERS VIOLATOR, or leave it empty",
        )
    return text


def _nic(value: str | None, info: ValidationInfo) -> str | None:
    text = _upper(value)
    # An ivf cell that failed its own check is not in info.data: say nothing more about it.
    if "ivf" not in info.data:
        return text or None
    ivf = info.data["ivf"]
    if not text:
        if ivf is not None:
            raise _refuse(
                f"empty, but ivf is {ivf}",
                "give the NCIC number of the IVF record (a letter and 9 digits)",
            )
        return None
    if ivf is None:
        raise _refuse(
            f"{text!r} without an ivf category",
            "give the ivf category of the record, or leave nic empty",
        )
    if not _NIC_RE.fullmatch(text):
        raise _refuse(
            f"{text!r} is not an NCIC number", "write a letter and 9 digits, e.g. I123456789"
        )
    return text


class RecordRow(CsvRow):
    """One person of the records CSV (``--records``)."""

    empty_fix: ClassVar[str] = "add records, or leave out --records to serve the synthetic index"

    arn: Annotated[str, BeforeValidator(_arn)]
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


CSV_COLUMNS: Final = RecordRow.columns()


# ---------------------------------------------------------------------------------------------
# Line registry (--lines) and ORI registry (--oris)


def _line_code(value: str | None) -> str:
    text = _upper(value)
    if not LINE_CODE_RE.fullmatch(text):
        raise _refuse(
            f"{text!r} is not a line code", "write the two-letter code of the line, e.g. CA"
        )
    return text


def _ori(text: str, what: str, when_empty: str) -> str:
    if not ORI_RE.fullmatch(text):
        raise _refuse(
            f"{text!r} is not an ORI",
            f"write the {what} as 9 characters, 2 letters then 7 letters or digits{when_empty}",
        )
    if text in SERVICE_ORIS:
        raise _refuse(f"{text} is an ORI of the gateway's own services", f"give the {what}")
    return text


def _key(value: str | None) -> str:
    text = (value or "").strip()
    # The key itself is never repeated in a message: it may be the plain secret.
    if not text:
        raise _refuse("empty", "paste the hash `iaqgw keys hash` prints for the line's key")
    if not is_well_formed_key(text):
        raise _refuse(
            f"not a well-formed {HASH_SCHEME} hash",
            "paste the whole hash `iaqgw keys hash` prints",
        )
    return text


def _notice_ori(value: str | None, info: ValidationInfo) -> str:
    code: str | None = info.data.get("line")
    text = _upper(value)
    if info.field_name == "ice_office_ori":
        what, default = "ICE field office's ORI", default_ice_office_ori
    else:
        what, default = "state control terminal's ORI", default_control_ori
    if code is None:  # a bad line code is reported on its own
        return text
    when_empty = f", or leave it empty for {default(code)}"
    ori = _ori(text or default(code), what, when_empty)
    if info.field_name == "control_ori" and ori[:2] != code:
        raise _refuse(f"{ori} is not on line {code}", f"give an ORI starting with {code}")
    return ori


class LineRow(CsvRow):
    """One connected state switch of the line registry (``--lines``)."""

    empty_fix: ClassVar[str] = "add a row for each state switch that signs on"

    line: Annotated[str, BeforeValidator(_line_code)]
    key: Annotated[str, BeforeValidator(_key)]
    # The ICE field office may sit on another line (one office covers several states); the
    # state control ORI is the line's own.
    ice_office_ori: Annotated[str, BeforeValidator(_notice_ori)] = ""
    control_ori: Annotated[str, BeforeValidator(_notice_ori)] = ""


def _agency_ori(value: str | None) -> str:
    text = _upper(value)
    if not text:
        raise _refuse("empty", "give the agency's 9-character ORI")
    return _ori(text, "agency's ORI", "")


def _ori_line(value: str | None, info: ValidationInfo) -> str:
    ori: str | None = info.data.get("ori")
    text = _upper(value)
    if ori is None:
        return text
    if text and text != ori[:2]:
        raise _refuse(
            f"{text!r} is not the line of {ori}",
            f"write {ori[:2]} (a line owns the ORIs that start with its code), or leave it empty",
        )
    return ori[:2]


def _agency(value: str | None) -> str:
    text = _words(value)
    if not text:
        raise _refuse("empty", "give the agency's name")
    return text


class OriRow(CsvRow):
    """One originating agency of the ORI registry (``--oris``)."""

    empty_fix: ClassVar[str] = (
        "add a row for each agency, or leave out --oris for the synthetic registry"
    )

    ori: Annotated[str, BeforeValidator(_agency_ori)]
    line: Annotated[str, BeforeValidator(_ori_line)] = ""
    agency: Annotated[str, BeforeValidator(_agency)]


# ---------------------------------------------------------------------------------------------
# Reading


_Row = TypeVar("_Row", bound=CsvRow)


class _TextLines:
    """The lines of a binary file as text: UTF-8, a leading byte-order mark dropped.

    A line that is not UTF-8 is refused with its number and, once the header is known, the
    column it falls in.
    """

    def __init__(self, handle: BinaryIO, source: str) -> None:
        # bytes.splitlines breaks at CR, LF and CRLF alike, so old Mac exports read too.
        self._pieces = (piece for chunk in handle for piece in chunk.splitlines(keepends=True))
        self._source = source
        self.number = 0
        self.header: tuple[str, ...] = ()

    def __iter__(self) -> "_TextLines":
        return self

    def __next__(self) -> str:
        raw = next(self._pieces)
        self.number += 1
        if self.number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._not_utf8(raw, exc) from None

    def _not_utf8(self, raw: bytes, exc: UnicodeDecodeError) -> DataFileError:
        cells = next(csv.reader([raw.decode("utf-8", "replace")]), [])
        index = next((i for i, cell in enumerate(cells) if "\ufffd" in cell), None)
        column = self.header[index] if index is not None and index < len(self.header) else None
        problem = f"byte 0x{raw[exc.start]:02X} is not UTF-8 (the file has another encoding)"
        return DataFileError(self._source, self.number, column, problem, UTF8_FIX)


def _header_spec(model: type[CsvRow]) -> str:
    optional = [name for name in model.columns() if name not in model.required_columns()]
    spec = ",".join(model.columns())
    return f"{spec} ({', '.join(optional)} may be left out)" if optional else spec


def _header(cells: list[str], source: str, line: int, model: type[CsvRow]) -> tuple[str, ...]:
    names = [cell.strip().lower() for cell in cells]
    # A spreadsheet's empty columns after the last one leave commas behind.
    while names and not names[-1]:
        names.pop()
    spec = _header_spec(model)
    if not names:
        raise DataFileError(source, line, None, "no header", f"the first line must be {spec}")
    for position, name in enumerate(names, start=1):
        if not name:
            raise DataFileError(
                source, line, None, f"column {position} of the header has no name",
                f"name it or delete the column; the header is {spec}",
            )  # fmt: skip
        if name not in model.model_fields:
            raise DataFileError(
                source, line, name, "unknown column",
                f"rename or remove it; the header is {spec}",
            )  # fmt: skip
        if names.count(name) > 1:
            raise DataFileError(
                source, line, name, "the header names it twice", "keep one of the columns"
            )
    missing = [name for name in model.required_columns() if name not in names]
    if missing:
        raise DataFileError(
            source, line, None, f"the header lacks {', '.join(missing)}",
            f"add the missing columns; the header is {spec}",
        )  # fmt: skip
    return tuple(names)


def _cells(cells: list[str], header: tuple[str, ...], source: str, line: int) -> dict[str, str]:
    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
        raise DataFileError(
            source, line, None, f"{len(cells)} values for {len(header)} columns",
            'put quotes around values that hold a comma ("SMITH, JR")',
        )  # fmt: skip
    if len(cells) < len(header):
        raise DataFileError(
            source, line, header[len(cells)],
            f"missing: the row has {len(cells)} values for {len(header)} columns",
            "give every column a value, empty ones as nothing between two commas",
        )  # fmt: skip
    return dict(zip(header, cells, strict=False))


def _refusal(exc: ValidationError, source: str, line: int) -> DataFileError:
    error = exc.errors(include_url=False)[0]
    column = str(error["loc"][0]) if error["loc"] else None
    context = error.get("ctx") or {}
    if error["type"] == _CUSTOM:
        return DataFileError(source, line, column, str(context["problem"]), str(context["fix"]))
    return DataFileError(source, line, column, error["msg"], "correct the value")


def read_rows(
    path: Path, model: type[_Row], today: date | None = None
) -> Iterator[tuple[int, _Row]]:
    """The rows of a data file with their line numbers, each checked by ``model``.

    ``today`` (default: the current date) is what dates in the future are judged against.
    Raises DataFileError on the first thing that cannot be used, and for a file without rows.
    """
    source = str(path)
    context = {"today": today or date.today()}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataFileError(
            source, None, None, f"cannot be read ({exc.strerror or exc})",
            "check that the file exists and is readable",
        ) from None  # fmt: skip
    with handle:
        lines = _TextLines(handle, source)
        reader = csv.reader(lines)
        count = 0
        try:
            first = next(reader, None)
            if first is None:
                raise DataFileError(
                    source, 1, None, "the file is empty",
                    f"the first line must be the header {_header_spec(model)}",
                )  # fmt: skip
            header = lines.header = _header(first, source, reader.line_num, model)
            for cells in reader:
                # Blank lines, and rows of empty cells a spreadsheet leaves at the end.
                if not any(cell.strip() for cell in cells):
                    continue
                line = reader.line_num
                values = _cells(cells, header, source, line)
                try:
                    row = model.model_validate(values, context=context)
                except ValidationError as exc:
                    raise _refusal(exc, source, line) from None
                count += 1
                yield line, row
        except csv.Error as exc:
            raise DataFileError(
                source, reader.line_num, None, f"not readable as CSV ({exc})",
                "save the file again as CSV, comma-separated, UTF-8",
            ) from None  # fmt: skip
        if count == 0:
            raise DataFileError(
                source, reader.line_num + 1, None, "no rows after the header", model.empty_fix
            )
