"""What the switch lends a service of its database: a read connection and its transactions.

A service keeps its tables in the journal file (responders.base.ServiceStore). In the gateway
its writes go through the journal's one writing connection, inside the transaction that also
stores the outputs they go with; from another process (the operator's CLI) through a
connection of its own.
"""

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any


class Transaction:
    """An open transaction: statements run on the connection that holds it."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement."""
        return self._db.execute(sql, parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        """Run one statement for each row."""
        return self._db.executemany(sql, rows)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the journal file (WAL), in autocommit mode: transactions are explicit."""
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    db.execute("PRAGMA journal_mode=WAL")
    return db


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[Transaction]:
    """A write transaction on ``db``: committed when the block ends, rolled back if it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield Transaction(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Store:
    """A service's store on the journal file.

    ``transaction`` and ``schema`` are the writer's: the journal's in the gateway, a
    connection of the store's own elsewhere (:class:`FileStore`).
    """

    def __init__(
        self,
        path: Path,
        transaction: Callable[[], AbstractContextManager[Transaction]],
        schema: Callable[[str], None],
        *,
        read_only: bool = False,
    ) -> None:
        self._path = path
        self._transaction = transaction
        self._schema = schema
        self._read_only = read_only
        self._reader: sqlite3.Connection | None = None

    def schema(self, ddl: str) -> None:
        """Create the service's tables."""
        self._schema(ddl)

    def reader(self) -> sqlite3.Connection:
        """The store's read connection (opened on first use)."""
        if self._reader is None:
            self._reader = connect(self._path, read_only=self._read_only)
        return self._reader

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction."""
        return self._transaction()

    def close(self) -> None:
        """Close the read connection."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class FileStore(Store):
    """A service's store from outside the gateway: the journal file with a writer of its own."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self._writer: sqlite3.Connection | None = None
        super().__init__(path, self._write, self._create, read_only=read_only)

    def _connection(self) -> sqlite3.Connection:
        if self._read_only:
            raise PermissionError(f"{self._path} is open read-only")
        if self._writer is None:
            self._writer = connect(self._path)
        return self._writer

    def _write(self) -> AbstractContextManager[Transaction]:
        return immediate(self._connection())

    def _create(self, ddl: str) -> None:
        self._connection().executescript(ddl)

    def close(self) -> None:
        """Close both connections."""
        super().close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
