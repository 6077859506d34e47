"""Registries and the immigration index: read the operator's files or the shipped defaults."""

import csv
from pathlib import Path

from gateway.index import ImmigrationIndex, build_from_csv, build_synthetic
from routing.lines import LINE_CODES, LineRegistry
from routing.oris import OriRegistry, synthetic_oris

DEFAULT_LINES = Path(__file__).parent / "data" / "lines.csv"


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header line."""
    with path.open(newline="", encoding="ascii") as handle:
        return list(csv.DictReader(handle))


def load_lines(path: Path | None) -> LineRegistry:
    """The line registry from ``path``, or the shipped development registry (keys DEV-<LINE>)."""
    return LineRegistry.from_rows(read_csv(path or DEFAULT_LINES))


def load_oris(path: Path | None) -> OriRegistry:
    """The ORI registry from ``path``, or the deterministic synthetic one (about 12,000 ORIs)."""
    if path is not None:
        return OriRegistry.from_rows(read_csv(path))
    return OriRegistry(synthetic_oris(LINE_CODES))


def ensure_index(index_path: Path, records: Path | None, synthetic_records: int) -> Path:
    """Build the index when it is missing (or older than the records CSV); return its path."""
    stale = (
        records is not None
        and index_path.exists()
        and index_path.stat().st_mtime < records.stat().st_mtime
    )
    if not index_path.exists() or stale:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        if records is not None:
            build_from_csv(index_path, records)
        else:
            build_synthetic(index_path, synthetic_records)
    return index_path


def open_index(index_path: Path, records: Path | None, synthetic_records: int) -> ImmigrationIndex:
    """Open the index, building it first when needed."""
    return ImmigrationIndex.open(ensure_index(index_path, records, synthetic_records))
