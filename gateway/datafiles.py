"""The line and ORI registries: read the operator's files or the shipped defaults."""

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from formats.datafile import CsvRow, DataFileError, FirstLines, read_rows, unreadable
from gateway.rows import LineRow, OriRow
from responders.registry import ServiceTable, installed, service_table
from routing.lines import LINE_CODES, Line, LineRegistry, default_ice_office_ori
from routing.oris import Ori, OriRegistry, synthetic_oris
from routing.services import SWITCH_ORI

DEFAULT_LINES = Path(__file__).parent / "data" / "lines.csv"


def reserved_oris(table: ServiceTable | None = None) -> frozenset[str]:
    """The switch's own ORI and every ORI a service sends as (default: the installed ones)."""
    services = service_table(installed()) if table is None else table
    return frozenset({SWITCH_ORI}) | services.sends_as


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a small ASCII CSV file with a header line (the plain keys of ``mqtt-config``)."""
    with path.open(newline="", encoding="ascii") as handle:
        return list(csv.DictReader(handle))


def _first_lines(
    source: Path, column: str, rows: Iterable[tuple[int, str]], fix: str
) -> dict[str, int]:
    """The line each value is first on; a value seen again is refused, naming both lines."""
    first = FirstLines(str(source), column, fix)
    for line, value in rows:
        first.add(line, value)
    return first.lines


_Row = TypeVar("_Row", bound=CsvRow)


def _read(path: Path, model: type[_Row], context: Mapping[str, Any]) -> list[tuple[int, _Row]]:
    """Every row of a data file with its line number (DataFileError when it cannot be used)."""
    try:
        with path.open("rb") as handle:
            return list(read_rows(handle, str(path), model, context=context))
    except OSError as exc:
        raise unreadable(str(path), exc) from None


def load_lines(path: Path | None, reserved: frozenset[str] | None = None) -> LineRegistry:
    """The line registry from ``path``, or the shipped development registry (keys DEV-<LINE>).

    Raises DataFileError for a row the registry cannot hold, including an ICE field office
    ORI on a line the file does not list (its detainer notices could go nowhere) and an ORI
    in ``reserved`` (default: :func:`reserved_oris`).
    """
    source = path or DEFAULT_LINES
    context = {"reserved": reserved_oris() if reserved is None else reserved}
    rows = _read(source, LineRow, context)
    codes = _first_lines(
        source, "line", ((line, row.line) for line, row in rows), "list each line once"
    )
    for line, row in rows:
        office_line = row.ice_office_ori[:2]
        if office_line not in codes:
            raise DataFileError(
                str(source), line, "ice_office_ori",
                f"{row.ice_office_ori} is on line {office_line}, which this file does not list",
                f"add line {office_line}, or leave the cell empty for"
                f" {default_ice_office_ori(row.line)}",
            )  # fmt: skip
    return LineRegistry(
        Line(r.line, r.key, r.ice_office_ori, r.control_ori, r.format, r.ident_bureau_ori)
        for _, r in rows
    )


def load_oris(
    path: Path | None,
    lines: Sequence[str] = LINE_CODES,
    reserved: frozenset[str] | None = None,
) -> OriRegistry:
    """The ORI registry from ``path``, or the deterministic synthetic one for ``lines``.

    The synthetic registry (about 12,000 ORIs over the shipped line codes) is cut down to the
    given lines, so each line has the same ORIs whatever else the line registry holds. ORIs
    in ``reserved`` (default: :func:`reserved_oris`) are refused in a file and left out of
    the synthetic registry.
    """
    reserved = reserved_oris() if reserved is None else reserved
    if path is None:
        wanted = set(lines)
        return OriRegistry(
            entry
            for entry in synthetic_oris(LINE_CODES)
            if entry.line in wanted and entry.ori not in reserved
        )
    rows = _read(path, OriRow, {"reserved": reserved})
    _first_lines(path, "ori", ((line, row.ori) for line, row in rows), "list each ORI once")
    return OriRegistry(Ori(row.ori, row.line, row.agency, row.chri) for _, row in rows)


