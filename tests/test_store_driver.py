"""The PostgreSQL driver is loaded only for a PostgreSQL store, and its errors reach the
gateway's handlers as the store's own (gateway/store.py, ``PostgresError``)."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mqtt_broker import free_port
from paths import RECORDS

from gateway.store import (
    DATABASE_ERRORS,
    STORE_ERRORS,
    PostgresConnection,
    PostgresError,
    PostgresOperationalError,
)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another socket listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


def imported_modules(importtime: str) -> set[str]:
    """The modules ``python -X importtime`` reported loading."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_serve_without_store_never_loads_psycopg(tmp_path: Path, held_port: int) -> None:
    # The whole start-up on SQLite (journal, services, index) up to listening, which fails.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gateway", "serve", "--port", str(held_port),
         "--data-dir", str(tmp_path / "data"), "--records", str(RECORDS)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "is in use" in done.stderr
    modules = imported_modules(done.stderr)
    assert "gateway.journal" in modules
    assert not {name for name in modules if name.split(".")[0] == "psycopg"}


def test_a_refused_connection_is_a_database_fault_the_handlers_catch() -> None:
    url = f"postgresql://iaqgw@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DATABASE_ERRORS) as caught:
        PostgresConnection(url)
    assert isinstance(caught.value, PostgresOperationalError)
    assert isinstance(caught.value, STORE_ERRORS)
    assert "psycopg" in type(caught.value.__cause__).__module__
    assert str(caught.value) == str(caught.value.__cause__)


def test_a_bad_statement_is_a_store_error_not_a_database_fault(postgres: str) -> None:
    db = PostgresConnection(postgres)
    try:
        with pytest.raises(PostgresError) as caught:
            db.execute("SELEC 1")
        assert not isinstance(caught.value, DATABASE_ERRORS)
        assert caught.value.sqlstate == "42601"
        assert not db.lost(caught.value)
        # A fetch is the cursor's: its errors are the store's too.
        with pytest.raises(PostgresError):
            db.execute("CREATE TEMPORARY TABLE t (a INTEGER)").fetchone()
        assert list(db.execute("SELECT ? + 1", (1,))) == [(2,)]
    finally:
        db.close()


def test_a_connection_the_server_ends_is_lost(postgres: str) -> None:
    db = PostgresConnection(postgres)
    try:
        with pytest.raises(DATABASE_ERRORS) as caught:
            db.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        assert isinstance(caught.value, PostgresOperationalError)
        assert db.lost(caught.value)
    finally:
        db.close()
