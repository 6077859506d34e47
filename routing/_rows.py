"""Reading registry CSV rows with errors that point at the offending row and column."""

from collections.abc import Iterable, Iterator, Mapping

# csv.DictReader rows: the header is file row 1, so the first data row is row 2.
FIRST_DATA_ROW = 2


def numbered(rows: Iterable[Mapping[str, str]]) -> Iterator[tuple[int, Mapping[str, str]]]:
    """Pair each data row with its row number in the file (header = row 1)."""
    return enumerate(rows, start=FIRST_DATA_ROW)


def row_error(number: int, column: str, reason: str) -> ValueError:
    """A ValueError whose message names the row and the column."""
    return ValueError(f"row {number}, column {column}: {reason}")


def cell(row: Mapping[str, str], number: int, column: str, *, required: bool = True) -> str:
    """The stripped value of ``column``; a missing column, or an empty required one, is an error."""
    # DictReader gives None for the columns of a short row, hence the isinstance check.
    value = row.get(column)
    if not isinstance(value, str):
        raise row_error(number, column, "missing")
    value = value.strip()
    if required and not value:
        raise row_error(number, column, "empty")
    return value
