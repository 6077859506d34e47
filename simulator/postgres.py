"""A real PostgreSQL for the shared-store tests and ``make bench``: a throwaway cluster made
with initdb, started with pg_ctl on a loopback port, its socket and files in a temporary
directory.

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` system user
(Debian's package creates it) and its commands run through ``runuser``.
"""

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

# Debian's postgresql package keeps the server binaries out of PATH.
_DEBIAN_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(d / name) for d in reversed(_DEBIAN_BIN) if (d / name).exists()), None
    )
    if found is None:
        raise RuntimeError(f"{name} is missing: install postgresql (make test does as root)")
    return found


class PostgresServer:
    """A PostgreSQL cluster in a temp dir; ``database()`` makes a fresh empty database."""

    def __init__(self, port: int) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="iaqgw-pg-"))
        self.port = port
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self.cluster = self.directory / "cluster"
        self.log_path = self.directory / "postgres.log"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")

    def start(self) -> "PostgresServer":
        """initdb, then pg_ctl start (waits until it takes connections)."""
        self._run(_binary("initdb"), "-D", str(self.cluster), "-U", "postgres",
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        self.resume()
        return self

    def resume(self) -> None:
        """pg_ctl start on the cluster (after :meth:`halt`); waits until it takes connections."""
        # A throwaway cluster: what a test writes need not survive a power loss.
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port}"
                   f" -c unix_socket_directories={self.directory}"
                   " -c fsync=off -c full_page_writes=off -c max_connections=200")
        self._run(_binary("pg_ctl"), "-D", str(self.cluster), "-l", str(self.log_path),
                  "-o", options, "-w", "-t", "30", "start")

    def halt(self) -> None:
        """pg_ctl stop -m fast, keeping the cluster: every connection to it is cut."""
        self._run(_binary("pg_ctl"), "-D", str(self.cluster), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        """pg_ctl stop (fast) unless halted, then remove the directory."""
        try:
            if (self.cluster / "postmaster.pid").exists():
                self.halt()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:PORT/DATABASE`` for ``--store``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)
