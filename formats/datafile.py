"""Operator data files (CSV) read as people export them, each row checked by a pydantic model.

UTF-8 with or without a byte-order mark, CRLF, LF or CR line ends, columns in any order,
header names and values in any letter case, spaces around values. Whatever cannot be used is
refused with a DataFileError: one line naming the file, the line, the column, the rule and the
fix (docs/data-files.md). The row models live with what reads them: the registries' in
gateway/rows.py, the LESC records' in responders/lesc/records.py. Like the rest of formats/ it
does no IO: the caller opens the file and hands its lines in.
"""

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any, ClassVar, Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

UTF8_FIX: Final = "save the file as UTF-8 (in a spreadsheet: Save As, CSV UTF-8)"
_CUSTOM: Final = "data_file"
_DATE_RE: Final = re.compile(r"[0-9]{8}")


class SettingError(ValueError):
    """A setting or data file the gateway cannot use; the CLI prints it as one line, exit 2."""


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


def refuse(problem: str, fix: str) -> PydanticCustomError:
    """The error a validator raises: the problem, and the fix the refusal names."""
    # The problem is the message; the fix rides along in the context for DataFileError.
    return PydanticCustomError(_CUSTOM, "{problem}", {"problem": problem, "fix": fix})


def upper(value: str | None) -> str:
    """A code cell: spaces around it trimmed, upper case."""
    return (value or "").strip().upper()


def words(value: str | None) -> str:
    """A cell of words: spaces around it trimmed and runs of them made one."""
    return " ".join((value or "").split())


def today_of(info: ValidationInfo) -> date:
    """The date the file is read on, against which dates in the future are judged."""
    context = info.context or {}
    today = context.get("today")
    return today if isinstance(today, date) else date.today()


def ccyymmdd(text: str, what: str) -> date:
    """A CCYYMMDD cell as a date; refused naming ``what`` it is."""
    if not _DATE_RE.fullmatch(text):
        raise refuse(
            f"{text!r} is not a date as CCYYMMDD",
            f"write the {what} like 19850314 (format the column as text so the spreadsheet"
            " keeps it)",
        )
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise refuse(f"{text} is not a real date", f"correct the {what}") from None


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




_Row = TypeVar("_Row", bound=CsvRow)


class _TextLines:
    """The lines of a binary file as text: UTF-8, a leading byte-order mark dropped.

    A line that is not UTF-8 is refused with its number and, once the header is known, the
    column it falls in.
    """

    def __init__(self, chunks: Iterable[bytes], source: str) -> None:
        # bytes.splitlines breaks at CR, LF and CRLF alike, so old Mac exports read too.
        self._pieces = (piece for chunk in chunks for piece in chunk.splitlines(keepends=True))
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


class FirstLines:
    """The line each value of a column is first on; a value seen again is refused, naming
    both lines (a person, a line code or an ORI listed twice)."""

    def __init__(
        self, source: str, column: str, fix: str, shown: Callable[[str], str] = str
    ) -> None:
        self._source = source
        self._column = column
        self._fix = fix
        self._shown = shown
        self.lines: dict[str, int] = {}

    def add(self, line: int, value: str) -> None:
        """Note ``value`` on ``line``; raises DataFileError when an earlier line holds it."""
        earlier = self.lines.setdefault(value, line)
        if earlier != line:
            problem = f"{self._shown(value)} is also on line {earlier}"
            raise DataFileError(self._source, line, self._column, problem, self._fix)


def unreadable(source: str, exc: OSError) -> DataFileError:
    """The refusal of a data file that cannot be opened or read."""
    return DataFileError(
        source, None, None, f"cannot be read ({exc.strerror or exc})",
        "check that the file exists and is readable",
    )  # fmt: skip


def read_rows(
    chunks: Iterable[bytes],
    source: str,
    model: type[_Row],
    today: date | None = None,
    context: Mapping[str, Any] | None = None,
) -> Iterator[tuple[int, _Row]]:
    """The rows of a data file with their line numbers, each checked by ``model``.

    ``chunks`` are the file's bytes in pieces (an open binary file, a list of lines);
    ``source`` names the file in refusals. ``today`` (default: the current date) is what
    dates in the future are judged against; ``context`` gives the model's validators more to
    judge by. Raises DataFileError on the first thing that cannot be used, and for a file
    without rows.
    """
    context = {**(context or {}), "today": today or date.today()}
    lines = _TextLines(chunks, source)
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
