"""Reading ahead: the switch reads a batch's headers, then lets each pipeline with a
``prepare`` read ahead for its inputs, before it answers any of them (Pipeline.prepare,
responders/lesc/read_ahead.py). Nothing an input gets may change with it."""

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import gateway_settings
from messages import iaq
from structlog.testing import CapturingLogger

from formats.errors import MessageError
from formats.iaq import parse_iaq
from formats.message import InputMessage, format_input, parse_input
from formats.nlets_xml import read_input
from formats.output import parse_output
from gateway import switch
from gateway.app import Gateway
from gateway.clock import ManualClock
from responders.base import Exchange, Pipeline, Reply
from responders.lesc import LESC, LESC_ORI, iaq_steps
from responders.lesc.desk import LescState
from responders.lesc.indices.subjects import subjects_of
from responders.lesc.read_ahead import ReadAhead, read_ahead
from responders.registry import installed
from routing.resolve import Destination

CA = "CA0000000"
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
# The bodies each prepare was given, call by call.
prepared_calls: list[list[str]] = []


def _ahead(state: Any, inputs: Sequence[tuple[InputMessage, date]]) -> list[str | None]:
    prepared_calls.append([message.body for message, _ in inputs])
    return [None if message.body == "NONE" else f"AHEAD {message.body} {today:%Y%m%d}"
            for message, today in inputs]


def _broken(state: Any, inputs: Sequence[tuple[InputMessage, date]]) -> list[str]:
    raise RuntimeError("BROKEN")


def _short(state: Any, inputs: Sequence[tuple[InputMessage, date]]) -> list[str]:
    return []


def _say_prepared(exchange: Exchange) -> None:
    exchange.reply("AM", LESC_ORI, f"PREPARED {exchange.prepared}")


PIPELINES = [
    Pipeline(service=LESC, accepts=frozenset({mke}), steps=(_say_prepared,), prepare=prepare)
    for mke, prepare in (("ZA", _ahead), ("ZB", _broken), ("ZC", _short))
]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[Gateway, CapturingLogger]]:
    """A gateway (not serving) with the reading-ahead pipelines, its log captured."""
    logger = CapturingLogger()
    log = structlog.wrap_logger(
        logger,
        processors=[structlog.processors.add_log_level],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    gw = Gateway(gateway_settings(tmp_path, technician_delay="off"), clock=ManualClock(START),
                 log=log, plugins=[*installed(), *PIPELINES])
    prepared_calls.clear()
    yield gw, logger
    await gw.stop()


def answered(gw: Gateway, texts: Sequence[str]) -> list[tuple[str | None, str, str]]:
    """Answer the texts as one batch of line CA: each output's control, key and body."""
    gw.switch.handle_lines([("CA", [(text, None) for text in texts])], lambda _: None)
    return [(out.control, out.mke, out.body)
            for out in map(parse_output, (o.text for o in gw.journal.outputs_after("CA", 0)))]


def za(body: str, control: str) -> str:
    return format_input("ZA", CA, ["AX"], body, control)


async def test_a_pipeline_reads_ahead_once_a_batch_and_each_exchange_gets_its_value(
    gateway: tuple[Gateway, CapturingLogger],
) -> None:
    gw, _ = gateway
    outputs = answered(gw, [za("ONE", "A"), iaq(CA, control="B"), "NO HEADER",
                            za("NONE", "C"), za("TWO", "D")])
    # One call for the batch, with the inputs that reach the pipeline alone, in order.
    assert prepared_calls == [["ONE", "NONE", "TWO"]]
    assert [(control, mke) for control, mke, _ in outputs] == [
        ("A", "AM"), ("B", "AM"), ("B", "IAR"), (None, "ER"), ("C", "AM"), ("D", "AM"),
    ]
    said = [body for _, mke, body in outputs if body.startswith("PREPARED")]
    assert said == ["PREPARED AHEAD ONE 20260302", "PREPARED None", "PREPARED AHEAD TWO 20260302"]


@pytest.mark.parametrize(
    ("mke", "error"),
    [("ZB", "RuntimeError: BROKEN"), ("ZC", "ValueError: 0 values read ahead for 1 inputs")],
)
async def test_a_prepare_that_fails_leaves_the_work_to_the_steps(
    gateway: tuple[Gateway, CapturingLogger], mke: str, error: str
) -> None:
    gw, logger = gateway
    outputs = answered(gw, [format_input(mke, CA, ["AX"], "X", "A"), iaq(CA, control="B")])
    assert outputs[0] == ("A", "AM", "PREPARED None")
    assert [mke for _, mke, _ in outputs[1:]] == ["AM", "IAR"]
    [warning] = [call.kwargs for call in logger.calls
                 if call.kwargs.get("event") == "switch.read_ahead_failed"]
    assert warning["level"] == "warning"
    assert (warning["service"], warning["error"]) == (LESC, error)


def _lesc_state(gw: Gateway) -> LescState:
    answering = gw.services.answering(LESC, "IAQ")
    assert answering is not None
    state = answering.runtime.state
    assert isinstance(state, LescState)
    return state


async def test_the_lesc_reads_ahead_what_its_steps_would_read(
    gateway: tuple[Gateway, CapturingLogger],
) -> None:
    gw, _ = gateway
    state = _lesc_state(gw)
    today = START.date()
    texts = [iaq(CA), iaq(CA, nam="SMITH, JOHN", dob="19700101", sex="M"), iaq(CA, dob="X")]
    messages = [parse_input(text) for text in texts]
    first, second, invalid = read_ahead(state, [(message, today) for message in messages])
    with pytest.raises(MessageError) as fault:
        parse_iaq(messages[2].body, today)
    assert isinstance(invalid, MessageError)
    assert (invalid.code, invalid.detail) == (fault.value.code, fault.value.detail)
    for ahead, message in ((first, messages[0]), (second, messages[1])):
        assert isinstance(ahead, ReadAhead)
        fields, found = parse_iaq(message.body, today)
        assert (ahead.fields, ahead.iaq) == (fields, found)
        assert ahead.by_name == state.index.by_name(found.last, found.first, found.dob, found.sex)
    with pytest.raises(TypeError):
        read_ahead(object(), [])


async def test_a_fault_found_ahead_is_the_er_of_its_turn(
    gateway: tuple[Gateway, CapturingLogger], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, _ = gateway

    def parsed_in_turn(body: str, today: date) -> Any:
        raise AssertionError("parsed a second time")

    # Read ahead, nothing is parsed in the step: a second parse would abort the input (SM).
    monkeypatch.setattr(iaq_steps, "parse_iaq", parsed_in_turn)
    bad = iaq(CA, control="B", dob="19851399")
    outputs = answered(gw, [iaq(CA, control="A"), bad])
    ahead = read_ahead(_lesc_state(gw), [(parse_input(bad), START.date())])
    assert isinstance(ahead[0], MessageError)
    assert [(control, mke) for control, mke, _ in outputs] == [("A", "AM"), ("A", "IAR"),
                                                                ("B", "ER")]
    assert ahead[0].detail in outputs[-1][2]


def _exchange(gw: Gateway, text: str, prepared: Any = None) -> Exchange:
    return Exchange(parse_input(text), "CA", Destination("service", LESC, "AX"), START,
                    "0000000001", gw.lines, _lesc_state(gw), prepared)


async def test_an_iar_is_the_same_read_ahead_or_not(
    gateway: tuple[Gateway, CapturingLogger],
) -> None:
    gw, _ = gateway
    answering = gw.services.answering(LESC, "IAQ")
    assert answering is not None
    text = iaq(CA, arn="012345678")
    [ahead] = read_ahead(_lesc_state(gw), [(parse_input(text), START.date())])
    assert isinstance(ahead, ReadAhead)
    replies: list[list[Reply]] = [
        answering.pipeline.run(_exchange(gw, text, prepared)) for prepared in (None, ahead)
    ]
    assert [reply.mke for reply in replies[0]] == ["AM", "IAR"]
    assert replies[0] == replies[1]


async def test_the_name_search_read_ahead_serves_only_the_iaq_read_ahead(
    gateway: tuple[Gateway, CapturingLogger],
) -> None:
    gw, _ = gateway
    text = iaq(CA)
    fields, read = parse_iaq(parse_input(text).body, START.date())
    marker = [object()]
    taken = _exchange(gw, text, ReadAhead(fields, read, marker))
    taken.data["iaq"] = read
    assert subjects_of(taken).by_name is marker
    # A step put another IAQ in its place: its own search.
    other = _exchange(gw, text, ReadAhead(fields, read, marker))
    other.data["iaq"] = parse_iaq(parse_input(text).body, START.date())[1]
    assert subjects_of(other).by_name is not marker


async def test_a_header_reader_that_fails_aborts_that_input_alone(
    gateway: tuple[Gateway, CapturingLogger], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, logger = gateway
    poisoned = za("POISON", "B")

    def read(text: str) -> InputMessage:
        if text == poisoned:
            raise RuntimeError("READER BUG")
        return read_input(text)

    monkeypatch.setattr(switch, "read_input", read)
    outputs = answered(gw, [za("ONE", "A"), poisoned, za("TWO", "C")])
    # Read ahead for the inputs whose headers were read; the other failed in its turn.
    assert prepared_calls == [["ONE", "TWO"]]
    assert [(control, mke) for control, mke, _ in outputs] == [("A", "AM"), (None, "SM"),
                                                                ("C", "AM")]
    [failed] = [call.kwargs for call in logger.calls
                if call.kwargs.get("event") == "pipeline.failed"]
    assert failed["error"] == "RuntimeError: READER BUG"
