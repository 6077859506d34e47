"""Registries and the immigration index: read the operator's files or the shipped defaults."""

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from gateway.config import SettingError, Settings
from gateway.index import ImmigrationIndex, Record, build_from_records, build_synthetic
from gateway.rows import DataFileError, LineRow, OriRow, RecordRow, read_rows
from routing.lines import LINE_CODES, Line, LineRegistry, default_ice_office_ori
from routing.oris import Ori, OriRegistry, synthetic_oris

DEFAULT_LINES = Path(__file__).parent / "data" / "lines.csv"

# What ensure_index did: made the index, made it again from newer records, or found it current.
IndexOutcome = Literal["built", "rebuilt", "reused"]


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a small ASCII CSV file with a header line (the plain keys of ``mqtt-config``)."""
    with path.open(newline="", encoding="ascii") as handle:
        return list(csv.DictReader(handle))


def _first_lines(
    source: Path, column: str, rows: Iterable[tuple[int, str]], fix: str
) -> dict[str, int]:
    """The line each value is first on; a value seen again is refused, naming both lines."""
    first: dict[str, int] = {}
    for line, value in rows:
        earlier = first.setdefault(value, line)
        if earlier != line:
            problem = f"{value} is also on line {earlier}"
            raise DataFileError(str(source), line, column, problem, fix)
    return first


def load_lines(path: Path | None) -> LineRegistry:
    """The line registry from ``path``, or the shipped development registry (keys DEV-<LINE>).

    Raises DataFileError for a row the registry cannot hold, including an ICE field office
    ORI on a line the file does not list: its detainer notices could go nowhere.
    """
    source = path or DEFAULT_LINES
    rows = list(read_rows(source, LineRow))
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
    return LineRegistry(Line(r.line, r.key, r.ice_office_ori, r.control_ori) for _, r in rows)


def load_oris(path: Path | None, lines: Sequence[str] = LINE_CODES) -> OriRegistry:
    """The ORI registry from ``path``, or the deterministic synthetic one for ``lines``.

    The synthetic registry (about 12,000 ORIs over the shipped line codes) is cut down to the
    given lines, so each line has the same ORIs whatever else the line registry holds.
    """
    if path is None:
        wanted = set(lines)
        return OriRegistry(entry for entry in synthetic_oris(LINE_CODES) if entry.line in wanted)
    rows = list(read_rows(path, OriRow))
    _first_lines(path, "ori", ((line, row.ori) for line, row in rows), "list each ORI once")
    return OriRegistry(Ori(row.ori, row.line, row.agency) for _, row in rows)


def nics_copies_to(
    settings: Settings, lines: LineRegistry, line_of: Callable[[str], str | None], log: Any
) -> str | None:
    """The ORI PUR/F responses are copied to, or None when the line registry has no line for it.

    The default NICS ORI on a line the registry lacks (a registry of a few states) turns the
    copies off with a warning; a NICS ORI the operator set must be on a line (docs/lesc.md).
    """
    ori = settings.nics_ori
    if line_of(ori) is not None:
        return ori
    if "nics_ori" in settings.model_fields_set:
        codes = f" ({', '.join(lines.codes)})" if len(lines) <= 10 else ""
        raise SettingError(
            f"IAQGW_NICS_ORI: {ori} is on no line of the line registry; set it to an ORI on"
            f" one of its lines{codes}, or add line {ori[:2]} to the --lines file"
        )
    log.warning(
        "config.nics_copies_off", nics_ori=ori,
        detail=f"line {ori[:2]} is not in the line registry; set IAQGW_NICS_ORI to copy PUR/F"
        " responses to an ORI on one of its lines",
    )  # fmt: skip
    return None


def _unique(source: Path, rows: Iterable[tuple[int, RecordRow]]) -> Iterator[Record]:
    arns: dict[str, int] = {}
    nics: dict[str, int] = {}
    for line, row in rows:
        earlier = arns.setdefault(row.arn, line)
        if earlier != line:
            raise DataFileError(
                str(source), line, "arn", f"A{row.arn} is also on line {earlier}",
                "list each person once: remove or merge the rows",
            )  # fmt: skip
        if row.nic is not None:
            earlier = nics.setdefault(row.nic, line)
            if earlier != line:
                raise DataFileError(
                    str(source), line, "nic", f"{row.nic} is also on line {earlier}",
                    "each IVF record has its own NCIC number: correct one of them",
                )  # fmt: skip
        yield row.record()


def build_from_csv(path_db: Path, csv_path: Path, today: date | None = None) -> int:
    """Build the index from a records CSV (SPEC.md §5); returns the record count.

    ``today`` (default: the current date) is what dates in the future are judged against.
    Raises DataFileError naming the line and column of the first unusable value; the index
    file is then left as it was.
    """
    return build_from_records(path_db, _unique(csv_path, read_rows(csv_path, RecordRow, today)))


def ensure_index(
    index_path: Path, records: Path | None, synthetic_records: int, today: date | None = None
) -> IndexOutcome:
    """Build the index when it is missing, or again when the records CSV is newer."""
    if not index_path.exists():
        outcome: IndexOutcome = "built"
    elif records is not None and index_path.stat().st_mtime < records.stat().st_mtime:
        outcome = "rebuilt"
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
