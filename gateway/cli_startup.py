"""Why ``iaqgw serve`` cannot start, in one line that says what to fix (SPEC.md §8).

Files are checked before the gateway is built; ports and the data directory are described
from the error the start-up raised, since only trying tells whether a port is free.
"""

import errno
import os
import socket
import sqlite3
import ssl
from pathlib import Path

from gateway.app import server_tls_context
from gateway.cli_errors import os_reason, unreadable
from gateway.config import Settings
from gateway.store import PostgresError, first_line

_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PEM_KEY = b"PRIVATE KEY-----"


def file_problem(settings: Settings) -> str | None:
    """The first data or TLS file that cannot be read, as a one-line reason, or None."""
    files = (
        ("records", settings.records), ("lines", settings.lines), ("oris", settings.oris),
        ("tls-cert", settings.tls_cert), ("tls-key", settings.tls_key),
        ("tls-ca", settings.tls_ca),
    )  # fmt: skip
    for flag, path in files:
        if path is not None and (problem := unreadable(path, flag)) is not None:
            return problem
    return None


def _holds(path: Path, marker: bytes) -> bool:
    return marker in path.read_bytes()


def tls_problem(settings: Settings) -> str | None:
    """Why the TLS flags cannot make a server context, or None (also without TLS)."""
    cert, key, ca = settings.tls_cert, settings.tls_key, settings.tls_ca
    if (cert is None) != (key is None):
        return "--tls-cert and --tls-key go together"
    if cert is None or key is None:
        return "--tls-ca needs --tls-cert and --tls-key" if ca is not None else None
    try:
        server_tls_context(settings)
    except ssl.SSLError as exc:
        # OpenSSL's errors rarely name the file; the PEM markers tell which one is wrong.
        if exc.reason == "KEY_VALUES_MISMATCH":
            return (f"--tls-key {key} does not belong to --tls-cert {cert}: "
                    "give the key made with that certificate")
        if not _holds(cert, _PEM_CERTIFICATE):
            return f"--tls-cert {cert} holds no PEM certificate: give the server's certificate"
        if not _holds(key, _PEM_KEY):
            return (f"--tls-key {key} holds no PEM private key: give the certificate's key, "
                    "unencrypted")
        if ca is not None and not _holds(ca, _PEM_CERTIFICATE):
            return (f"--tls-ca {ca} holds no PEM certificate: give the CA that signs the "
                    "lines' certificates")
        return f"--tls-cert {cert}, --tls-key {key}: {exc.reason or exc}"
    except OSError as exc:
        return f"TLS files: {os_reason(exc)}"
    return None


def listen_problem(exc: OSError, settings: Settings) -> str:
    """What to fix when the gateway could not listen (line port or metrics port)."""
    host = settings.host
    if isinstance(exc, socket.gaierror):
        return f"--host {host}: {os_reason(exc)}: give an IP address or a name this machine knows"
    # asyncio and uvloop name the address they could not bind; the metrics server does not.
    if settings.metrics_port is not None and "bind on address" not in str(exc):
        where, flag = f"the metrics port {host}:{settings.metrics_port}", "--metrics-port"
    else:
        where, flag = f"{host}:{settings.port}", "--port"
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is in use: stop the other process or choose another {flag}"
    if exc.errno == errno.EACCES:
        return (f"{where}: permission denied (ports below 1024 need privileges): "
                f"choose another {flag}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine: give one it has (127.0.0.1)"
    return f"cannot listen on {where}: {os_reason(exc)}"


def _unreadable_database(settings: Settings) -> Path | None:
    # The journal first, then the files services keep beside it (the LESC's index).
    others = sorted(settings.data_dir.glob("*.sqlite3")) if settings.data_dir.is_dir() else []
    for path in (settings.journal_path, *others):
        if not path.is_file():
            continue
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                db.execute("PRAGMA schema_version").fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return path
    return None


def data_dir_problem(exc: OSError | sqlite3.Error, settings: Settings) -> str:
    """What to fix when the journal or the index under ``--data-dir`` cannot be used."""
    data_dir = settings.data_dir
    if data_dir.exists() and not data_dir.is_dir():
        return f"--data-dir {data_dir} is a file: give a directory"
    if isinstance(exc, OSError):
        where = Path(exc.filename) if isinstance(exc.filename, str) else data_dir
        if where != data_dir and data_dir.resolve() not in where.resolve().parents:
            return f"{where}: {os_reason(exc)}"
        return f"--data-dir {data_dir}: {os_reason(exc)}: give a directory the gateway can write"
    # SQLite says only "unable to open database file" when it may not create the journal.
    if data_dir.is_dir() and not os.access(data_dir, os.W_OK | os.X_OK):
        return f"--data-dir {data_dir}: permission denied: give a directory the gateway can write"
    broken = _unreadable_database(settings)
    if broken is not None:
        return (f"--data-dir {data_dir}: {broken.name} is not a database the gateway can read "
                f"({exc}): move it away or give another --data-dir")
    return (f"--data-dir {data_dir}: {exc}: give a directory the gateway can write, holding "
            "only files it wrote")


def store_problem(exc: PostgresError) -> str:
    """What to fix when the PostgreSQL database of ``--store`` cannot be used.

    The URL is not repeated: it may hold a password.
    """
    return f"--store: {first_line(exc)}: give a PostgreSQL database the gateway can reach and write"
