"""TLS 1.2+ with --tls-cert/--tls-key, client certificates with --tls-ca, line codes taken
from the certificate (issue 6). Certificates come from trustme; every socket is real."""

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from conftest import gateway_settings
from gateway_process import GatewayProcess
from messages import am
from reliability_tools import LoadLine, logged_gateway

from formats.framing import encode_frame
from gateway.app import server_tls_context
from simulator.client import SignOnRejected

CA = "CA0000000"


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_files(tmp_path: Path, authority: trustme.CA) -> dict[str, Path]:
    """Server certificate and key for 127.0.0.1, and the CA that client certificates use."""
    cert = authority.issue_cert("127.0.0.1", "localhost")
    files = {"tls_cert": tmp_path / "server.pem", "tls_key": tmp_path / "server.key",
             "tls_ca": tmp_path / "ca.pem"}
    cert.cert_chain_pems[0].write_to_path(str(files["tls_cert"]))
    cert.private_key_pem.write_to_path(str(files["tls_key"]))
    authority.cert_pem.write_to_path(str(files["tls_ca"]))
    return files


def client_context(
    authority: trustme.CA, client: trustme.LeafCert | None = None
) -> ssl.SSLContext:
    """A line's TLS context trusting the test CA, presenting ``client`` when given."""
    context = ssl.create_default_context()
    authority.configure_trust(context)
    if client is not None:
        client.configure_cert(context)
    return context


async def test_tls_serves_a_line(
    tmp_path: Path, authority: trustme.CA, server_files: dict[str, Path]
) -> None:
    files = {k: v for k, v in server_files.items() if k != "tls_ca"}
    async with logged_gateway(tmp_path, **files) as (gateway, _):
        line = await LoadLine.connect(gateway.port, "CA", tls=client_context(authority))
        assert line.writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        await line.send(am(CA, "CA", text="OVER TLS"))
        (out,) = await line.wait_outputs(1)
        assert (out.message.mke, out.message.body) == ("AM", "OVER TLS")
        await line.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_tls_versions_accepted(
    tmp_path: Path, authority: trustme.CA, server_files: dict[str, Path],
    version: ssl.TLSVersion,
) -> None:
    files = {k: v for k, v in server_files.items() if k != "tls_ca"}
    async with logged_gateway(tmp_path, **files) as (gateway, _):
        context = client_context(authority)
        context.minimum_version = context.maximum_version = version
        line = await LoadLine.connect(gateway.port, "TX", tls=context)
        assert line.writer.get_extra_info("ssl_object").version() == version.name.replace("_", ".")
        await line.close()


def test_server_context_refuses_below_tls_1_2(
    server_files: dict[str, Path], tmp_path: Path
) -> None:
    context = server_tls_context(gateway_settings(tmp_path, **server_files))
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED


async def test_plain_tcp_to_a_tls_port_gets_no_session(
    tmp_path: Path, server_files: dict[str, Path]
) -> None:
    files = {k: v for k, v in server_files.items() if k != "tls_ca"}
    async with logged_gateway(tmp_path, **files) as (gateway, events):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(encode_frame("SIGNON.CA.DEV-CA"))
        data = await asyncio.wait_for(reader.read(), 5)
        assert b"SIGNON OK" not in data
        writer.close()
        assert not events.events("session.signon")


async def test_client_certificate_required_with_ca(
    tmp_path: Path, authority: trustme.CA, server_files: dict[str, Path]
) -> None:
    stranger = trustme.CA()
    async with logged_gateway(tmp_path, **server_files) as (gateway, events):
        for client in (None, stranger.issue_cert("ca.switch.example", organization_unit_name="CA")):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                line = await LoadLine.connect(
                    gateway.port, "CA", tls=client_context(authority, client)
                )
                await line.close()
        assert not events.events("session.signon")


async def test_line_code_from_the_certificate(
    tmp_path: Path, authority: trustme.CA, server_files: dict[str, Path]
) -> None:
    ca_cert = authority.issue_cert("ca.switch.example", organization_unit_name="CA")
    tx_cert = authority.issue_cert("tx.switch.example", common_name="TX")
    plain = authority.issue_cert("switch.example", common_name="switch.example")
    async with logged_gateway(tmp_path, **server_files) as (gateway, events):
        # OU=CA signs on as CA and is answered.
        line = await LoadLine.connect(gateway.port, "CA", tls=client_context(authority, ca_cert))
        await line.send(am(CA, "CA", text="OU=CA"))
        assert (await line.wait_outputs(1))[0].message.body == "OU=CA"
        await line.close()
        # ... but cannot sign on as TX, even with TX's key.
        with pytest.raises(SignOnRejected, match="CERTIFICATE NOT FOR THIS LINE"):
            await LoadLine.connect(gateway.port, "TX", tls=client_context(authority, ca_cert))
        rejected = events.events("security.signon_rejected")
        assert rejected[-1]["line"] == "TX" and rejected[-1]["reason"] == "certificate for line CA"
        # CN=TX (no OU) is TX's certificate.
        with pytest.raises(SignOnRejected, match="CERTIFICATE NOT FOR THIS LINE"):
            await LoadLine.connect(gateway.port, "CA", tls=client_context(authority, tx_cert))
        line = await LoadLine.connect(gateway.port, "TX", tls=client_context(authority, tx_cert))
        await line.close()
        # A certificate naming no line code leaves the choice to the line key.
        for code in ("CA", "NY"):
            line = await LoadLine.connect(gateway.port, code, tls=client_context(authority, plain))
            await line.close()
        with pytest.raises(SignOnRejected, match="INVALID KEY"):
            await LoadLine.connect(gateway.port, "NY", "DEV-CA",
                                   tls=client_context(authority, plain))
        assert [e["line"] for e in events.events("session.signon")] == ["CA", "TX", "CA", "NY"]


@pytest.fixture
def tls_process(tmp_path: Path, server_files: dict[str, Path]) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(
        tmp_path / "data",
        "--tls-cert", str(server_files["tls_cert"]),
        "--tls-key", str(server_files["tls_key"]),
        "--tls-ca", str(server_files["tls_ca"]),
    )
    yield proc
    proc.stop()


async def test_cli_tls_flags(tls_process: GatewayProcess, authority: trustme.CA) -> None:
    tls_process.start()
    ny_cert = authority.issue_cert("ny.switch.example", organization_unit_name="NY")
    line = await LoadLine.connect(tls_process.port, "NY", tls=client_context(authority, ny_cert))
    await line.send(am("NY0000000", "NY", text="OU=NY"))
    assert (await line.wait_outputs(1))[0].message.body == "OU=NY"
    await line.close()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await LoadLine.connect(tls_process.port, "NY", tls=client_context(authority))
