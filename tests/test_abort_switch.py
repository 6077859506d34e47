"""Per-exchange abort in the switch, in process (issue 9, SPEC.md §11).

A pipeline step that fails with anything but a MessageError aborts its own exchange: its
outputs and LESC state changes are dropped, the sender gets SM .04., the input is marked
failed, and every other input of the read is answered with its effects.
"""

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import gateway_settings
from fixtures.abort_plugin import iaqgw_poison
from messages import iaq
from structlog.testing import CapturingLogger

from formats.message import format_input
from formats.notices import SM_UNABLE
from formats.output import OutputMessage, parse_output
from gateway.app import Gateway
from gateway.clock import ManualClock
from gateway.journal import FAILED, PROCESSED, NumberedOutput
from gateway.outputs import Outputs
from gateway.switch import Switch
from responders.base import Exchange, Pipeline
from responders.lesc import LESC, LESC_ORI
from responders.lesc.desk import HIT, OPEN, Case, CaseClosed
from responders.registry import installed

CA = "CA0000000"
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def close_unknown_case(exchange: Exchange) -> None:
    """Answer, then ask to close a case that does not exist: the casebook refuses to store it."""
    exchange.reply("AM", LESC_ORI, "CLOSING A CASE")
    case = Case(9999, HIT, OPEN, exchange.line, exchange.message.sender, START, None, {})
    exchange.effects.append(CaseClosed(case, START, "CONFIRMED", "NOBODY", False))


UNSTORABLE = Pipeline(service=LESC, accepts=frozenset({"ZS"}), steps=(close_unknown_case,))


class Rig:
    """A gateway's parts (not serving) and a switch with the failing pipelines added."""

    def __init__(self, tmp_path: Path, signed_on: Callable[[str], bool]) -> None:
        self.logger = CapturingLogger()
        log = structlog.wrap_logger(
            self.logger,
            processors=[structlog.processors.add_log_level],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        )
        self.gateway = Gateway(
            gateway_settings(tmp_path, technician_delay="off"),
            clock=ManualClock(START),
            log=log,
            plugins=[*installed(), iaqgw_poison.pipeline, UNSTORABLE],
        )
        gw = self.gateway
        self.switch = Switch(
            router=gw.router,
            services=gw.services,
            lines=gw.lines,
            journal=gw.journal,
            outputs=Outputs(gw.journal),
            clock=gw.clock,
            in_service=signed_on,
            log=log,
        )
        self.db = sqlite3.connect(tmp_path / "data" / "journal.sqlite3")

    def outputs(self, line: str = "CA") -> list[OutputMessage]:
        """Every output stored for the line, in sequence order."""
        return [parse_output(out.text) for out in self.gateway.journal.outputs_after(line, 0)]

    def column(self, sql: str) -> list[Any]:
        """The first column of a query on the journal file."""
        return [row[0] for row in self.db.execute(sql)]

    def events(self, name: str) -> list[dict[str, Any]]:
        """Captured log events with this name."""
        return [call.kwargs for call in self.logger.calls if call.kwargs.get("event") == name]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """Every line signed on."""
    made = Rig(tmp_path, lambda line: True)
    yield made
    made.db.close()
    await made.gateway.stop()


def zq(*dests: str, control: str | None = None) -> str:
    """An input for the failing plugin pipeline."""
    return format_input("ZQ", CA, dests, "NAM/SMITH, JOHN.", control)


async def test_a_failing_step_aborts_its_own_exchange_only(rig: Rig) -> None:
    read = [
        (iaq(CA, arn="012345678", control="BEFORE"), None),
        (zq("AX", control="BAD"), None),
        (iaq(CA, arn="012345678", control="AFTER"), None),
    ]
    stored: list[NumberedOutput] = []
    rig.switch.handle_lines([("CA", read)], stored.extend)
    outputs = rig.outputs()
    assert [parse_output(out.text) for out in stored] == outputs
    assert [(o.control, o.mke) for o in outputs] == [
        ("BEFORE", "AM"), ("BEFORE", "IAR"), ("BAD", "SM"), ("AFTER", "AM"), ("AFTER", "IAR"),
    ]
    notice = outputs[2]
    assert notice.sender == "NL0000000" and notice.dest == CA and notice.in_seq == 2
    assert notice.body == f"{SM_UNABLE}\nDESTINATION AX"
    assert all(iaqgw_poison.NEVER_SENT not in o.body for o in outputs)
    # The failed exchange's state change (its query count) is dropped, the others' kept.
    assert rig.column("SELECT input_id FROM lesc_queries ORDER BY input_id") == [1, 3]
    assert rig.column("SELECT processed FROM inputs ORDER BY id") == [PROCESSED, FAILED, PROCESSED]
    rows = rig.db.execute(
        "SELECT event, ori, mke, in_seq, outcome FROM audit WHERE in_seq = 2 ORDER BY id"
    ).fetchall()
    assert rows == [
        ("accepted", CA, "ZQ", 2, None),
        ("failed", CA, "ZQ", 2, "AX KeyError: 'ZQ TABLE'"),
    ]
    [event] = rig.events("pipeline.failed")
    assert event["level"] == "error"
    assert (event["line"], event["ori"], event["mke"], event["in_seq"], event["control"]) == (
        "CA", CA, "ZQ", 2, "BAD",
    )
    assert event["dest"] == "AX" and event["error"] == "KeyError: 'ZQ TABLE'"
    assert event["where"].startswith("iaqgw_poison.py:")
    # The batch's INFO lines are held and written together, yet before the failure: the
    # lines keep the order things happened in.
    order = [(call.kwargs["event"], call.kwargs["in_seq"]) for call in rig.logger.calls
             if call.kwargs["event"].startswith(("message.", "pipeline."))]
    assert order == [
        ("message.accepted", 1), ("message.accepted", 2), ("pipeline.failed", 2),
        ("message.accepted", 3),
    ]


async def test_only_the_failing_destination_is_aborted(rig: Rig) -> None:
    rig.switch.handle_lines([("CA", [(zq("AX", "TX", control="TWO"), None)])], lambda _: None)
    [notice] = rig.outputs("CA")
    assert notice.mke == "SM" and notice.body == f"{SM_UNABLE}\nDESTINATION AX"
    [forwarded] = rig.outputs("TX")
    assert forwarded.mke == "ZQ" and forwarded.sender == CA and forwarded.control == "TWO"
    assert rig.column("SELECT processed FROM inputs") == [FAILED]


async def test_effects_the_casebook_refuses_fail_that_input_alone(rig: Rig) -> None:
    read = [
        (iaq(CA, arn="012345678", control="BEFORE"), None),
        (format_input("ZS", CA, ["AX"], "X/Y.", "BAD"), None),
        (iaq(CA, arn="012345678", control="AFTER"), None),
    ]
    rig.switch.handle_lines([("CA", read)], lambda _: None)
    outputs = rig.outputs()
    assert [(o.control, o.mke) for o in outputs] == [
        ("BEFORE", "AM"), ("BEFORE", "IAR"), ("BAD", "SM"), ("AFTER", "AM"), ("AFTER", "IAR"),
    ]
    assert outputs[2].body == f"{SM_UNABLE}\nDESTINATION AX"
    assert rig.column("SELECT input_id FROM lesc_queries ORDER BY input_id") == [1, 3]
    assert rig.column("SELECT processed FROM inputs ORDER BY id") == [PROCESSED, FAILED, PROCESSED]
    # The input's own audit rows go with its outputs: only its failure is recorded.
    assert rig.column("SELECT event FROM audit WHERE in_seq = 2") == ["failed"]
    [event] = rig.events("pipeline.failed")
    assert event["error"] == "StaleCase: case 9999 changed state" and event["dest"] == "AX"


async def test_recovery_fails_a_poison_input_once_and_answers_the_rest(rig: Rig) -> None:
    journal = rig.gateway.journal
    journal.record_lines(START, [("CA", [(zq("AX", control="BAD"), None)])])
    journal.record_lines(START, [("CA", [(iaq(CA, arn="012345678", control="GOOD"), None)])])
    assert rig.switch.recover() == 2
    assert [(o.control, o.mke) for o in rig.outputs()] == [
        ("BAD", "SM"), ("GOOD", "AM"), ("GOOD", "IAR"),
    ]
    assert rig.column("SELECT processed FROM inputs ORDER BY id") == [FAILED, PROCESSED]
    # A failed input is never run again.
    assert rig.switch.recover() == 0
    assert len(rig.events("pipeline.failed")) == 1
    assert len(rig.outputs()) == 3


async def test_recovery_of_an_input_from_a_line_no_longer_registered(rig: Rig) -> None:
    journal = rig.gateway.journal
    journal.record_lines(START, [("ZZ", [(format_input("AM", "ZZ0000000", ["CA"], "HI"), None)])])
    journal.record_lines(START, [("CA", [(iaq(CA, arn="012345678", control="GOOD"), None)])])
    assert rig.switch.recover() == 2
    # Nothing can reach line ZZ; the input is failed, and the next one answered.
    assert [(o.control, o.mke) for o in rig.outputs()] == [("GOOD", "AM"), ("GOOD", "IAR")]
    assert rig.column("SELECT processed FROM inputs ORDER BY id") == [FAILED, PROCESSED]
    assert rig.column("SELECT line FROM audit WHERE event = 'failed'") == ["ZZ"]
    [event] = rig.events("pipeline.failed")
    assert event["line"] == "ZZ" and event["error"].startswith("RuntimeError: ")
