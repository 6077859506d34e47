"""Nlets XML lines end to end (SPEC.md §10, issue 11): a real gateway, real sockets, a line
registry with the ``format`` column; outputs in the destination line's format, inputs in
either form, hostile documents answered with an ER and the session going on."""

import asyncio
import json
import re
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import gateway_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from messages import am, iaq
from mqtt_broker import Broker
from paths import RECORDS
from structlog.testing import CapturingLogger
from typer.testing import CliRunner

from formats.errors import ErrorCode
from formats.line_protocol import TEXT
from formats.message import parse_input
from formats.nlets_xml import MAX_ATTRIBUTE, XML, is_xml, parse_xml_input, render_xml_input
from formats.notices import parse_er_body
from gateway.app import Gateway
from gateway.bus.mqtt import MqttBus
from gateway.cli import app
from gateway.datafiles import load_lines, load_oris
from gateway.journal import PendingOutput
from gateway.outputs import LineRender, line_render, render_output
from routing.lines import LINE_CODES, Line, LineRegistry, dev_key
from simulator.bench import LINES as BENCH_LINES
from simulator.bench import _end_to_end, xml_registry
from simulator.client import LineClient
from simulator.mqtt_client import MqttLineClient
from simulator.record import read_record
from simulator.replay import render_differences, replay
from simulator.simulate import Simulation, SimulationOptions
from simulator.switches import parse_target
from simulator.traffic import parse_mix, subjects_from_csv, traffic_data

AZ = "AZ0000000"
CA = "CA0000000"
TX = "TX0000000"
N2 = "http://www.nlets.org/niem/1.0"
NH2 = "http://www.nlets.org/niem/nlets-hdr/1.0"
NC = "http://niem.gov/niem/niem-core/2.0"

Connect = Callable[..., Awaitable[LineClient]]


def lines_file(path: Path, xml: tuple[str, ...] = ("CA",)) -> Path:
    """The shipped lines with their development keys in plain; the ``xml`` lines are XML."""
    rows = [f"{code},{dev_key(code)},,,{'xml' if code in xml else ''}" for code in LINE_CODES]
    path.write_text("\n".join(["line,key,ice_office_ori,control_ori,format", *rows]) + "\n")
    return path


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway whose line CA is an XML line and TX and NY are text lines."""
    running = Gateway(gateway_settings(tmp_path, lines=lines_file(tmp_path / "lines.csv")))
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def connect(gateway: Gateway) -> AsyncIterator[Connect]:
    """Sign lines on; CA reads its outputs with the XML codec."""
    clients: list[LineClient] = []

    async def open_line(line: str, **kwargs: Any) -> LineClient:
        if line == "CA":
            kwargs.setdefault("codec", XML)
        client = await LineClient.connect("127.0.0.1", gateway.port, line, **kwargs)
        clients.append(client)
        return client

    yield open_line
    for client in clients:
        await client.close()


def element(document: str, name: str) -> str:
    """The text of the one header element ``nh2:<name>`` of an output document."""
    [value] = re.findall(rf"<nh2:{name}>([^<]*)</nh2:{name}>", document)
    return value


def xml_iaq(sender: str, **fields: str | None) -> str:
    """The IAQ of tests/messages.py as a tagged Nlets XML document."""
    document = render_xml_input(parse_input(iaq(sender, **fields)))
    assert parse_xml_input(document).tagged
    return document


def hostile(text: str, *, prolog: str = "", attributes: str = "") -> str:
    """An AM from CA to TX whose text is ``text`` (markup allowed), after ``prolog``."""
    return (
        f"{prolog}<n2:NLETS xmlns:n2='{N2}' xmlns:nh2='{NH2}' xmlns:nc='{NC}'{attributes}>"
        "<n2:NLETSMessageHeader><nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
        f"<nh2:OriginatingORIID>{CA}</nh2:OriginatingORIID>"
        "<nh2:DestinationORIID>TX</nh2:DestinationORIID></n2:NLETSMessageHeader>"
        f"<n2:NLETSMailData n2:key='AM'><nc:MessageText>{text}</nc:MessageText>"
        "</n2:NLETSMailData></n2:NLETS>"
    )


async def test_xml_iaq_from_an_xml_line_is_answered_in_xml_with_the_header_numbers(
    gateway: Gateway, connect: Connect
) -> None:
    ca = await connect("CA")
    await ca.send(xml_iaq(CA, control="CASE-1"))
    ack, iar = await ca.recv_many(2)
    for out in (ack, iar):
        assert is_xml(out.text), out.text
        assert element(out.text, "DestinationORIID") == CA
        assert element(out.text, "DocumentControlFieldText") == "CASE-1"
        # §10: line 2's number is the input's, line 3's the output's (what ACK acknowledges).
        assert element(out.text, "ReceiveMessageNumeric") == "00001"
        assert element(out.text, "SendMessageNumeric") == f"{out.seq:05d}"
    assert (ack.message.mke, iar.message.mke) == ("AM", "IAR")
    assert "LESC ACKNOWLEDGES RECEIPT OF IAQ" in ack.message.body
    assert "<n2:NLETSMailData" in ack.text and "<n2:NLETSResponseData>" in iar.text
    assert "NAM/GARCIA, MARIA ELENA." in iar.message.body
    assert [ack.seq, iar.seq] == [1, 2]
    # The gateway answers the probe after taking the ACK sent before it on the connection.
    await ca.heartbeat()
    for _ in range(500):
        if ca.heartbeat_answers:
            break
        await asyncio.sleep(0.01)
    assert gateway.journal.last_ack("CA") == 2


async def test_the_same_iaq_from_a_text_line_is_answered_in_text(connect: Connect) -> None:
    tx = await connect("TX")
    await tx.send(iaq(TX))
    ack, iar = await tx.recv_many(2)
    assert not is_xml(ack.text) and ack.text.startswith("AM.VTINS07S0\n")
    assert iar.text.startswith("IAR.VTINS07S0\n")
    assert "NAM/GARCIA, MARIA ELENA." in iar.message.body


async def test_a_text_line_may_send_xml_and_gets_text(connect: Connect) -> None:
    tx = await connect("TX")
    await tx.send(xml_iaq(TX))
    ack, iar = await tx.recv_many(2)
    assert (ack.text[:3], iar.text[:4]) == ("AM.", "IAR.")


async def test_an_am_between_a_text_line_and_an_xml_line_is_translated_both_ways(
    connect: Connect,
) -> None:
    ca, tx = await connect("CA"), await connect("TX")
    text = "PLEASE CALL OUR WATCH COMMANDER.\nREF CASE 24-00172 & <NOTE>."
    await tx.send(am(TX, CA, text=text, control="M-1"))
    [got] = await ca.recv_many(1)
    assert is_xml(got.text) and "<nc:MessageText>" in got.text
    assert (got.message.mke, got.message.sender, got.message.dest) == ("AM", TX, CA)
    assert (got.message.control, got.message.body) == ("M-1", text)
    await ca.send(render_xml_input(parse_input(am(CA, TX, text=text, control="M-2"))))
    [back] = await tx.recv_many(1)
    assert back.text.startswith(f"AM.{CA}\n")
    assert (back.message.dest, back.message.control, back.message.body) == (TX, "M-2", text)


async def test_an_er_to_an_xml_input_names_the_element_and_quotes_the_translation(
    connect: Connect,
) -> None:
    ca = await connect("CA")
    await ca.send(xml_iaq(CA, cus=None))
    [er] = await ca.recv_many(1)
    assert is_xml(er.text) and er.message.mke == "ER"
    code, detail, original = parse_er_body(er.message.body)
    assert (code, detail) == (ErrorCode.MISSING, "ELEMENT nc:Status/nc:StatusText MISSING")
    assert original.startswith(f"IAQ.{CA}.AX.TXT\nPUR/C.")


async def test_an_unknown_destination_in_xml_names_its_element(connect: Connect) -> None:
    ca = await connect("CA")
    await ca.send(render_xml_input(parse_input(am(CA, "ZZ0000000"))))
    [er] = await ca.recv_many(1)
    code, detail, _ = parse_er_body(er.message.body)
    assert code == ErrorCode.DESTINATION and "(nh2:DestinationORIID)" in detail, detail


async def test_an_sm_to_an_xml_line_is_xml(connect: Connect) -> None:
    ca = await connect("CA")
    await ca.send(render_xml_input(parse_input(am(CA, "NY"))))
    [sm] = await ca.recv_many(1)
    assert is_xml(sm.text) and sm.message.mke == "SM"
    assert sm.message.body.endswith("DESTINATION NY")


async def test_the_backlog_after_sign_on_is_in_the_lines_format(
    gateway: Gateway, connect: Connect
) -> None:
    tx = await connect("TX")
    await tx.send(am(TX, "CA", text="HELD FOR YOU"))
    [sm] = await tx.recv_many(1)
    assert sm.text.startswith("SM.")
    ca = await connect("CA")
    [held] = await ca.recv_many(1)
    assert is_xml(held.text) and held.message.body == "HELD FOR YOU"


def _entities() -> str:
    laughs = '<!ENTITY l0 "HA">' + "".join(
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)
    )
    return f"<!DOCTYPE n2:NLETS [{laughs}]>"


HOSTILE = {
    "xxe file": (hostile("&x;", prolog='<!DOCTYPE n2:NLETS [<!ENTITY x SYSTEM '
                                      '"file:///etc/passwd">]>'), ErrorCode.FORMAT),
    "billion laughs": (hostile("&l9;", prolog=_entities()), ErrorCode.FORMAT),
    "quadratic blow-up": (
        hostile("&a;" * 1000, prolog=f'<!DOCTYPE n2:NLETS [<!ENTITY a "{"A" * 5000}">]>'),
        ErrorCode.FORMAT,
    ),
    "deep nesting": (hostile("<a>" * 300 + "</a>" * 300), ErrorCode.FORMAT),
    "huge attribute": (hostile("X", attributes=f" d='{'x' * (MAX_ATTRIBUTE * 8)}'"),
                       ErrorCode.FORMAT),
    "wrong root": (f"<n2:MESSAGE xmlns:n2='{N2}'><x/></n2:MESSAGE>", ErrorCode.TXT_NOT_FOUND),
    "wrong namespace": (hostile("X").replace(N2, "urn:not-nlets"), ErrorCode.TXT_NOT_FOUND),
    "not well formed": (hostile("<open>"), ErrorCode.TXT_NOT_FOUND),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_document_gets_its_er_in_xml_and_the_session_goes_on(
    connect: Connect, name: str
) -> None:
    document, code = HOSTILE[name]
    ca = await connect("CA")
    await ca.send(document)
    [er] = await ca.recv_many(1)
    assert is_xml(er.text) and er.message.mke == "ER", er.text
    got, detail, _ = parse_er_body(er.message.body)
    assert got == code, detail
    assert "root:" not in er.text
    await ca.send(xml_iaq(CA))
    ack, iar = await ca.recv_many(2)
    assert (ack.message.mke, iar.message.mke) == ("AM", "IAR")


async def test_an_xxe_over_the_network_on_a_live_line_fetches_nothing(
    connect: Connect, listener: tuple[socket.socket, int]
) -> None:
    server, port = listener
    ca = await connect("CA")
    url = f"http://127.0.0.1:{port}/evil.dtd"
    for prolog in (f'<!DOCTYPE n2:NLETS SYSTEM "{url}">',
                   f'<!DOCTYPE n2:NLETS [<!ENTITY % p SYSTEM "{url}"> %p;]>'):
        await ca.send(hostile("&x;", prolog=prolog))
        [er] = await ca.recv_many(1)
        assert parse_er_body(er.message.body)[0] == ErrorCode.FORMAT
    with pytest.raises(BlockingIOError):
        server.accept()
    await ca.send(xml_iaq(CA))
    assert len(await ca.recv_many(2)) == 2


async def test_audit_rows_are_the_same_for_both_forms(gateway: Gateway, connect: Connect) -> None:
    ca, tx = await connect("CA"), await connect("TX")
    # An IAQ answered (acknowledgement and IAR), then one refused (ER), from each form.
    for line, text, outputs in (
        (ca, xml_iaq(CA), 2), (tx, iaq(TX), 2), (ca, xml_iaq(CA, cus=None), 1),
        (tx, iaq(TX, cus=None), 1),
    ):
        await line.send(text)
        await line.recv_many(outputs)
    gateway.journal.flush()
    with sqlite3.connect(gateway.settings.journal_path) as db:
        rows = db.execute(
            "SELECT line, event, substr(ori, 3), mke, in_seq, out_seq, substr(outcome, 1, 5)"
            " FROM audit ORDER BY line, id"
        ).fetchall()
    by_line = {code: [row[1:] for row in rows if row[0] == code] for code in ("CA", "TX")}
    assert by_line["CA"] == by_line["TX"]
    assert [row[0] for row in by_line["CA"]].count("rejected") == 1


async def test_an_mqtt_xml_line_is_answered_in_xml_and_reaches_a_tcp_text_line(
    tmp_path: Path, start_gateway: Callable[..., Awaitable[Gateway]], broker: Broker
) -> None:
    lines = lines_file(tmp_path / "mqtt-lines.csv", xml=("AZ",))
    gateway = await start_gateway(bus=broker.url, lines=lines)
    assert isinstance(gateway.bus, MqttBus)
    await gateway.bus.wait_connected(10)
    az = await MqttLineClient.connect("127.0.0.1", broker.port, "AZ", codec=XML)
    ca = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    try:
        await az.send(xml_iaq(AZ, control="MQ-1"))
        ack, iar = await az.recv_many(2)
        assert is_xml(ack.text) and is_xml(iar.text)
        assert (ack.message.mke, iar.message.mke) == ("AM", "IAR")
        assert element(iar.text, "SendMessageNumeric") == f"{iar.seq:05d}" == "00002"
        assert element(iar.text, "ReceiveMessageNumeric") == "00001"
        await ca.send(am(CA, AZ, text="TO AN XML LINE OVER MQTT", control="X1"))
        got = await az.recv()
        assert is_xml(got.text) and got.message.body == "TO AN XML LINE OVER MQTT"
        assert (got.message.sender, got.message.control) == (CA, "X1")
        await az.send(render_xml_input(parse_input(am(AZ, CA, text="BACK IN TEXT"))))
        back = await ca.recv()
        assert back.text.startswith(f"AM.{AZ}\n") and back.message.body == "BACK IN TEXT"
    finally:
        await az.close()
        await ca.close()


SIMULATED = ["CA", "TX", "NY", "FL"]
FAST_TECHNICIAN = {"technician_delay": "fixed", "technician_delay_mean": 0.05}


async def test_simulate_with_xml_lines_passes_and_its_record_verifies(
    tmp_path: Path, start_gateway: Callable[..., Awaitable[Gateway]]
) -> None:
    lines = lines_file(tmp_path / "sim-lines.csv", xml=("CA", "TX"))
    first = await start_gateway(lines=lines, data_dir=tmp_path / "first", **FAST_TECHNICIAN)
    record = tmp_path / "run.jsonl"
    options = SimulationOptions(
        target=parse_target(f"127.0.0.1:{first.port}"),
        keys={line: dev_key(line) for line in SIMULATED}, rate=400.0, count=200,
        mix=parse_mix("iaq=60,qw=20,am=12,bad=8"), seed=11, drain=3.0, record=record,
        xml_lines=frozenset({"CA", "TX"}),
    )
    data = traffic_data(subjects_from_csv(RECORDS), load_oris(None), SIMULATED)
    report = await Simulation(options, data).run()
    assert report.violations == {}, report.examples
    assert report.answered == report.sent and report.kinds["iaq-c"].answered > 0
    recorded = read_record(record)
    assert recorded.xml_lines == {"CA", "TX"}
    # What was on the wire: documents on the XML lines (but the bad inputs), text elsewhere.
    sent = {line: [is_xml(e.text) for e in recorded.sent if e.kind != "bad" and e.line == line]
            for line in SIMULATED}
    assert all(sent["CA"]) and all(sent["TX"]) and not any(sent["NY"]) and not any(sent["FL"])
    received = {line: [is_xml(e.text) for e in recorded.received if e.line == line]
                for line in SIMULATED}
    assert all(received["CA"]) and received["CA"] and not any(received["NY"])
    await first.stop()
    fresh = await start_gateway(lines=lines, data_dir=tmp_path / "fresh", **FAST_TECHNICIAN)
    keys = {line: dev_key(line) for line in recorded.lines}
    result = await replay(recorded, parse_target(f"127.0.0.1:{fresh.port}"), keys, 1.0,
                          settle=1.0, timeout=10.0)
    assert result.differences == [], render_differences(result.differences)
    assert len(result.outputs) == len(recorded.received)


def test_xml_lines_outside_the_run_are_refused_in_one_line() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--records", str(RECORDS), "--lines", "CA,TX", "--xml-lines", "NY"]
    )
    assert result.exit_code == 2
    assert "--xml-lines: NY is not a line of the run (CA,TX)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_bench_registers_its_xml_lines_with_the_format_column(tmp_path: Path) -> None:
    registry = load_lines(xml_registry(tmp_path / "lines.csv", BENCH_LINES))
    assert {line.code for line in registry if line.format == "xml"} == set(BENCH_LINES)
    assert len(registry) == len(LINE_CODES)
    assert [line.key_hash for line in registry] == [line.key_hash for line in load_lines(None)]


def _pending(line: str, body: str) -> PendingOutput:
    at = datetime(2026, 11, 23, 14, 2)
    return PendingOutput(line, 1, "AM", "VTINS07S0", f"{line}0000000", "C-1", body, at, 17, at)


def test_an_xml_line_gets_the_text_form_of_an_output_too_long_for_a_document() -> None:
    registry = LineRegistry([Line("CA", "k", "CAICE0000", "CA0000000", "xml"),
                             Line("TX", "k", "TXICE0000", "TX0000000")])
    render = LineRender(registry, max_text=4096)
    short = render(_pending("CA", "HELLO"), 42)
    assert is_xml(short) and XML.read_output(short).out_seq == 42
    assert render(_pending("TX", "HELLO"), 42).startswith("AM.VTINS07S0\n")
    long_body = "X" * 3900 + "\n& <END>"
    fallback = render(_pending("CA", long_body), 43)
    assert not is_xml(fallback) and len(fallback) <= 4096
    # Nothing is lost, and the XML line's codec reads it.
    message = XML.read_output(fallback)
    assert (message.body, message.out_seq, message.control) == (long_body, 43, "C-1")


async def test_the_simulate_command_drives_xml_lines(
    tmp_path: Path, start_gateway: Callable[..., Awaitable[Gateway]]
) -> None:
    lines = lines_file(tmp_path / "cli-lines.csv", xml=("CA",))
    gateway = await start_gateway(lines=lines, **FAST_TECHNICIAN)
    record = tmp_path / "cli.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "simulate", "--target", f"127.0.0.1:{gateway.port}",
        "--records", str(RECORDS), "--lines", "CA,TX", "--xml-lines", "CA", "--rate", "200",
        "--count", "40", "--seed", "5", "--json", "--record", str(record), "--drain", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["answered"] == summary["sent"] >= 40
    recorded = read_record(record)
    assert recorded.run["xml_lines"] == ["CA"]
    assert any(is_xml(e.text) for e in recorded.received if e.line == "CA")
    assert not any(is_xml(e.text) for e in recorded.received if e.line == "TX")


async def test_the_bench_load_runs_over_xml_lines(
    tmp_path: Path, start_gateway: Callable[..., Awaitable[Gateway]]
) -> None:
    # The end-to-end figure's client, a few IAQs per line: each answered by two XML outputs.
    lines = lines_file(tmp_path / "bench-lines.csv", xml=BENCH_LINES)
    gateway = await start_gateway(lines=lines, technician_delay="off")
    assert await _end_to_end(gateway.port, per_line=10, window=4, xml=True) > 0
    with sqlite3.connect(gateway.settings.journal_path) as db:
        texts = [text for (text,) in db.execute("SELECT text FROM outputs WHERE line = 'CA'")]
    assert len(texts) == 20 and all(is_xml(text) for text in texts)


async def test_logs_are_the_same_for_both_forms(tmp_path: Path) -> None:
    logger = CapturingLogger()
    log = structlog.wrap_logger(logger, processors=[structlog.processors.add_log_level],
                                wrapper_class=structlog.make_filtering_bound_logger(10))
    settings = gateway_settings(tmp_path, lines=lines_file(tmp_path / "lines.csv"))
    gateway = Gateway(settings, log=log)
    await gateway.start()
    try:
        ca = await LineClient.connect("127.0.0.1", gateway.port, "CA", codec=XML)
        tx = await LineClient.connect("127.0.0.1", gateway.port, "TX")
        for line, text, outputs in (
            (ca, xml_iaq(CA, control="L1"), 2), (ca, xml_iaq(CA, cus=None), 1),
            (tx, iaq(TX, control="L1"), 2), (tx, iaq(TX, cus=None), 1),
        ):
            await line.send(text)
            await line.recv_many(outputs)
        await ca.close()
        await tx.close()
    finally:
        await gateway.stop()

    def events(line: str) -> list[dict[str, Any]]:
        found = [dict(call.kwargs) for call in logger.calls
                 if str(call.kwargs.get("event", "")).startswith("message.")
                 and call.kwargs.get("line") == line]
        for event in found:
            # The ER's detail names the element for XML, as the ER does, and delivery takes
            # its own time; the rest is equal.
            for key in ("detail", "latency_ms", "line"):
                event.pop(key, None)
        return found

    ca_events = events("CA")
    assert {"message.accepted", "message.rejected", "message.delivered"} == {
        e["event"] for e in ca_events
    }
    assert as_text(ca_events).replace(CA, TX) == as_text(events("TX"))


def as_text(events: list[dict[str, Any]]) -> str:
    """Events as one comparable text."""
    return json.dumps(events, sort_keys=True, default=str)


@settings(max_examples=100)
@given(
    body=st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)] + ["\n", "\r"], max_size=1200),
    seq=st.integers(1, 10**7),
    line=st.sampled_from(["CA", "TX"]),
)
def test_every_line_reads_back_what_it_is_sent_within_the_frame(
    body: str, seq: int, line: str
) -> None:
    render = LineRender(LineRegistry([Line("CA", "k", "CAICE0000", "CA0000000", "xml"),
                                      Line("TX", "k", "TXICE0000", "TX0000000")]),
                        max_text=1024)
    text = render(_pending(line, body), seq)
    message = (XML if line == "CA" else TEXT).read_output(text)
    assert (message.body, message.out_seq, message.dest) == (body, seq % 100_000,
                                                             f"{line}0000000")
    # A frame that fits as text fits whatever the line's format.
    if len(render_output(_pending(line, body), seq)) <= 1024:
        assert len(text) <= 1024


def test_a_registry_without_xml_lines_renders_every_output_as_text() -> None:
    registry = LineRegistry([Line("TX", "k", "TXICE0000", "TX0000000")])
    assert line_render(registry) is render_output
    mixed = line_render(LineRegistry([Line("CA", "k", "CAICE0000", "CA0000000", "xml"),
                                      Line("TX", "k", "TXICE0000", "TX0000000")]))
    assert isinstance(mixed, LineRender)
    assert is_xml(mixed(_pending("CA", "HELLO"), 1))
