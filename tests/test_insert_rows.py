"""Rows inserted many a statement (responders/base.py ``insert_rows``), on a real SQLite file."""

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from responders.base import INSERT_ROWS, insert_rows

HEAD = "INSERT INTO t (n, text, maybe)"


class Counting:
    """A real connection that notes each statement it runs."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.statements: list[str] = []

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        self.statements.append(sql)
        return self.db.execute(sql, parameters)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        raise AssertionError("insert_rows runs statements of many rows")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    path: Path = tmp_path_factory.mktemp("insert") / "rows.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE t (n INTEGER, text TEXT, maybe TEXT)")
    yield connection
    connection.close()


rows_strategy = st.lists(
    st.tuples(st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
              st.none() | st.text(max_size=5)),
    max_size=3 * INSERT_ROWS + 5,
)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy)
def test_every_row_is_stored_in_order_in_few_statements(
    db: sqlite3.Connection, rows: list[tuple[int, str, str | None]]
) -> None:
    db.execute("DELETE FROM t")
    counting = Counting(db)
    insert_rows(counting, HEAD, rows)
    assert db.execute("SELECT n, text, maybe FROM t ORDER BY rowid").fetchall() == rows
    # Full statements of INSERT_ROWS rows, then one statement a set bit of the rest.
    full, rest = divmod(len(rows), INSERT_ROWS)
    assert len(counting.statements) == full + rest.bit_count()
    # A table's statements are at most one a power of two up to INSERT_ROWS.
    assert len(set(counting.statements)) <= INSERT_ROWS.bit_length()


def test_a_failing_row_fails_the_call(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS u (n INTEGER PRIMARY KEY)")
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(db, "INSERT INTO u (n)", [(1,), (2,), (1,)])


def test_wide_rows_stay_within_the_parameters_older_sqlite_allowed(
    db: sqlite3.Connection,
) -> None:
    columns = [f"c{n}" for n in range(40)]
    db.execute(f"CREATE TABLE IF NOT EXISTS wide ({', '.join(columns)})")
    rows = [tuple(range(n, n + 40)) for n in range(100)]
    counting = Counting(db)
    insert_rows(counting, f"INSERT INTO wide ({', '.join(columns)})", rows)
    assert db.execute("SELECT * FROM wide ORDER BY rowid").fetchall() == rows
    # 999 // 40 = 24 rows at most: statements of 16 rows, then 4.
    assert max(sql.count("(") - 1 for sql in counting.statements) == 16
    assert len(counting.statements) == 7
