"""``iaqgw serve`` that cannot start says why in one line and exits 2 (SPEC.md §8, issue 9).

Each case runs the real command as a child process against real sockets and files. Where the
problem needs an ordinary user's limits (a port below 1024, a directory without write
permission), a root test run drops root's powers over ports and file modes with ``setpriv``.
"""

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from paths import RECORDS
from typer.testing import CliRunner

from gateway.cli import app

Problem = tuple[int, list[str], str]


def serve(data_dir: Path, *args: str, prefix: tuple[str, ...] = ()) -> Problem:
    """Run ``iaqgw serve`` that is expected to stop: (exit code, stderr lines, stdout)."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "gateway", "serve", "--port", "0",
         "--data-dir", str(data_dir), "--records", str(RECORDS), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )
    return done.returncode, done.stderr.splitlines(), done.stdout


def assert_one_line(problem: Problem, *words: str) -> str:
    """Exit 2 with one line on stderr holding ``words``, and no traceback anywhere."""
    code, errors, out = problem
    assert code == 2, (errors, out[-2000:])
    assert len(errors) == 1, errors
    assert "Traceback" not in out
    line = errors[0]
    assert line.startswith("iaqgw: ")
    for word in words:
        assert word in line, line
    return line


def unprivileged() -> tuple[str, ...]:
    """A command prefix without root's powers over low ports and file modes (empty for a user)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    # util-linux (Debian's essential set) ships it: root's powers can always be dropped.
    assert setpriv is not None, "running as root without setpriv: install util-linux"
    return (setpriv, "--bounding-set", "-net_bind_service,-dac_override,-dac_read_search", "--")


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another process listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_port_in_use(tmp_path: Path, held_port: int) -> None:
    line = assert_one_line(serve(tmp_path / "data", "--port", str(held_port)))
    assert line == (f"iaqgw: 127.0.0.1:{held_port} is in use: stop the other process or "
                    "choose another --port")


def test_metrics_port_in_use(tmp_path: Path, held_port: int) -> None:
    assert_one_line(serve(tmp_path / "data", "--metrics-port", str(held_port)),
                    f"metrics port 127.0.0.1:{held_port} is in use", "--metrics-port")


def test_port_below_1024_without_privilege(tmp_path: Path) -> None:
    prefix = unprivileged()
    first_free = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    assert first_free > 1, "this machine lets anyone listen on every port"
    # The highest privileged port: nothing of the system's own listens there.
    port = first_free - 1
    assert_one_line(serve(tmp_path / "data", "--port", str(port), prefix=prefix),
                    f"127.0.0.1:{port}", "permission denied", "--port")


def test_host_not_of_this_machine(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    assert_one_line(serve(tmp_path / "data", "--host", "192.0.2.1"), "--host 192.0.2.1")


def test_host_unknown(tmp_path: Path) -> None:
    assert_one_line(serve(tmp_path / "data", "--host", "no-such-host.invalid"),
                    "--host no-such-host.invalid")


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(tmp_path: Path, authority: trustme.CA) -> dict[str, Path]:
    """A good server certificate, its key, a key of another certificate, the CA and junk."""
    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "other", "ca", "junk")}
    cert = authority.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    authority.issue_cert("127.0.0.2").private_key_pem.write_to_path(str(files["other"]))
    authority.cert_pem.write_to_path(str(files["ca"]))
    files["junk"].write_text("not a certificate\n")
    return files


@pytest.mark.parametrize(
    ("cert", "key", "ca", "words"),
    [
        ("missing", "key", None, ("--tls-cert", "no such file")),
        ("cert", "missing", None, ("--tls-key", "no such file")),
        ("cert", "key", "missing", ("--tls-ca", "no such file")),
        ("junk", "key", None, ("--tls-cert", "no PEM certificate")),
        ("cert", "junk", None, ("--tls-key", "no PEM private key")),
        ("cert", "other", None, ("--tls-key", "does not belong to --tls-cert")),
        ("cert", "key", "junk", ("--tls-ca", "no PEM certificate")),
    ],
)
def test_unusable_tls_files(tmp_path: Path, tls: dict[str, Path], cert: str, key: str,
                            ca: str | None, words: tuple[str, ...]) -> None:
    files = {**tls, "missing": tmp_path / "missing.pem"}
    args = ["--tls-cert", str(files[cert]), "--tls-key", str(files[key])]
    if ca is not None:
        args += ["--tls-ca", str(files[ca])]
    assert_one_line(serve(tmp_path / "data", *args), *words)


def test_tls_ca_without_certificate(tls: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["serve", "--tls-ca", str(tls["ca"])])
    assert result.exit_code == 2
    assert result.stderr == "iaqgw: --tls-ca needs --tls-cert and --tls-key\n"


def test_unreadable_tls_key(tmp_path: Path, tls: dict[str, Path]) -> None:
    prefix = unprivileged()
    tls["key"].chmod(0)
    assert_one_line(
        serve(tmp_path / "data", "--tls-cert", str(tls["cert"]), "--tls-key", str(tls["key"]),
              prefix=prefix),
        f"--tls-key {tls['key']}", "permission denied",
    )


def test_unreadable_records(tmp_path: Path) -> None:
    prefix = unprivileged()
    records = tmp_path / "records.csv"
    shutil.copy(RECORDS, records)
    records.chmod(0)
    assert_one_line(serve(tmp_path / "data", "--records", str(records), prefix=prefix),
                    f"--records {records}", "permission denied")


def test_data_dir_is_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("")
    assert_one_line(serve(data), f"--data-dir {data}")


def test_data_dir_not_writable(tmp_path: Path) -> None:
    prefix = unprivileged()
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    assert_one_line(serve(data, prefix=prefix), f"--data-dir {data}", "permission denied")


def test_journal_not_a_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "journal.sqlite3").write_text("this is not SQLite\n" * 100)
    assert_one_line(serve(data), f"--data-dir {data}", "journal.sqlite3")


def test_unknown_lesc_timing_is_a_one_line_usage_error_naming_the_flag(tmp_path: Path) -> None:
    line = assert_one_line(serve(tmp_path / "data", "--lesc-timing", "slow"), "--lesc-timing")
    assert line == "iaqgw: --lesc-timing: Input should be 'immediate' or 'realistic'"


@pytest.mark.parametrize(("value", "reason"), [
    ("abc", "Input should be a valid number, unable to parse string as a number"),
    ("0.5", "Input should be greater than or equal to 1"),
    ("inf", "Input should be a finite number"),
])
def test_bad_lease_time_is_a_one_line_usage_error_naming_the_flag(
    tmp_path: Path, value: str, reason: str
) -> None:
    line = assert_one_line(serve(tmp_path / "data", "--lease-time", value), "--lease-time")
    assert line == f"iaqgw: --lease-time: {reason}"


def test_bad_lease_time_in_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAQGW_LEASE_TIME", "0")
    line = assert_one_line(serve(tmp_path / "data"), "IAQGW_LEASE_TIME")
    assert line == "iaqgw: IAQGW_LEASE_TIME: Input should be greater than or equal to 1"
