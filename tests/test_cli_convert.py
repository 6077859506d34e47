"""``iaqgw convert``: one message from text to Nlets XML and back, on stdin and stdout."""

from datetime import datetime

import pytest
from messages import am, iaq
from typer.testing import CliRunner, Result

from formats.message import format_fields, format_input
from formats.nlets_xml import parse_xml_input, parse_xml_output, render_xml_output
from formats.output import OutputMessage, format_output
from gateway.cli import app

OUTPUT = OutputMessage("YR", "VTINS07S0", datetime(2026, 11, 23, 14, 2), 7,
                       datetime(2026, 11, 23, 14, 9), 12, "TX0000000", "C-1",
                       "RTY/WP.\nRNO/1.\nSTA/CONFIRMED.\nHIT CONFIRMED.")


def convert(stdin: str | bytes, *args: str) -> Result:
    return CliRunner().invoke(app, ["convert", *args], input=stdin)


def written(result: Result) -> str:
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n")
    return result.stdout[:-1]


def test_a_text_input_becomes_xml_and_back() -> None:
    text = iaq("CA0000000", control="CASE-1")
    xml = written(convert(text + "\n"))
    msg = parse_xml_input(xml)
    assert (msg.mke, msg.sender, msg.dests, msg.control, msg.tagged) == (
        "IAQ", "CA0000000", ("AX",), "CASE-1", True
    )
    assert written(convert(xml)) == text


def test_a_query_is_laid_out_to_go_tagged() -> None:
    text = format_input("YQ", "TX0000000", ["VTINS07S0"],
                        "NAM/DOE, JOHN. DOB/070490.RTY/WP.RNO/1.PRI/U.OCA/X1.NIC/I123456789.")
    xml = written(convert(text))
    assert "<nc:Date>1990-07-04</nc:Date>" in xml
    assert parse_xml_input(xml).body == format_fields(
        {"RTY": "WP", "RNO": "1", "PRI": "U", "OCA": "X1", "NIC": "I123456789",
         "NAM": "DOE, JOHN", "DOB": "19900704"}
    )


def test_outputs_both_ways() -> None:
    text = format_output(OUTPUT)
    xml = written(convert(text))
    assert parse_xml_output(xml) == OUTPUT
    assert written(convert(xml)) == text
    assert written(convert(xml, "--to", "xml")) == render_xml_output(OUTPUT)


def test_a_captured_frame_and_to_text() -> None:
    text = am("CA0000000", "TX", text="HELLO. THERE")
    assert written(convert(b"\x02" + text.encode() + b"\x03", "--to", "text")) == text


@pytest.mark.parametrize(
    ("stdin", "args", "reason"),
    [
        ("", [], "iaqgw: no message on stdin"),
        ("junk", [], "iaqgw: not a message: 0 NO VALID HEADER"),
        ("<n2:NLETS", [], "iaqgw: not a message: .03. IMPROPERLY FORMED XML"),
        ("<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>", [],
         "iaqgw: not a message: 0 XML DOCUMENT TYPE DECLARATION NOT ALLOWED"),
        (b"AM.CA0000000.TX.TXT CAF\xc9", [], "iaqgw: not a message: 0 TEXT OUTSIDE THE CHARACTER"),
        ("AM.CA0000000.TX.TXT X", ["--to", "json"], "iaqgw: --to json: write xml or text"),
    ],
)
def test_a_bad_message_is_one_line_and_exit_2(stdin: str | bytes, args: list[str],
                                              reason: str) -> None:
    result = convert(stdin, *args)
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.stderr.splitlines()
    assert line.startswith(reason)
    assert result.stdout == ""
