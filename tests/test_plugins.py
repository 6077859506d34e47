"""The plugin interface (issue 10, SPEC.md §12): defaults, clashes, timers, the transaction API."""

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import gateway_settings
from structlog.testing import CapturingLogger

from formats.datafile import SettingError
from formats.message import format_input
from formats.notices import SM_UNABLE
from formats.output import parse_output
from gateway.app import Gateway
from gateway.clock import ManualClock
from gateway.datafiles import load_oris
from gateway.journal import FAILED, PROCESSED, Journal, NumberedOutput, PendingOutput
from gateway.outputs import render_output
from gateway.scheduler import FAILED_WAIT, Scheduler
from gateway.store import FileStore
from responders.base import Exchange, Pipeline, Service, ServiceRuntime
from responders.registry import PluginError, installed, service_table

CA = "CA0000000"
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
ECHO_ORI = "CAECHO000"


def captured() -> tuple[CapturingLogger, Any]:
    """A logger whose events the test reads."""
    logger = CapturingLogger()
    log = structlog.wrap_logger(
        logger,
        processors=[structlog.processors.add_log_level],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    return logger, log


def events(logger: CapturingLogger, name: str) -> list[dict[str, Any]]:
    """Captured log events with this name."""
    return [call.kwargs for call in logger.calls if call.kwargs.get("event") == name]


# ---------------------------------------------------------------------------------------------
# A service with no runtime


seen_states: list[object] = []


def echo(exchange: Exchange) -> None:
    """Answer with the body, noting the state the switch lent."""
    seen_states.append(exchange.state)
    exchange.reply("EC", ECHO_ORI, exchange.message.body)


def echo_with_effect(exchange: Exchange) -> None:
    """Answer, and ask a service without storage to keep something."""
    exchange.reply("EC", ECHO_ORI, exchange.message.body)
    exchange.effects.append(("REMEMBER", exchange.message.body))


ECHO = Pipeline("echo", frozenset({"EQ"}), (echo,), destinations=frozenset({"ECHO"}))
ECHO_KEEP = Pipeline("echo", frozenset({"EK"}), (echo_with_effect,))


@pytest.fixture
async def echo_gateway(tmp_path: Path) -> AsyncIterator[tuple[Gateway, CapturingLogger]]:
    """A gateway (not serving) with the installed services and a bare echo pipeline."""
    logger, log = captured()
    gateway = Gateway(
        gateway_settings(tmp_path, technician_delay="off"),
        clock=ManualClock(START),
        log=log,
        plugins=[*installed(), ECHO, ECHO_KEEP],
    )
    yield gateway, logger
    await gateway.stop()


async def test_a_service_without_a_runtime_gets_the_defaults(
    echo_gateway: tuple[Gateway, CapturingLogger],
) -> None:
    gateway, _ = echo_gateway
    runtime = gateway.services.runtime("echo")
    assert type(runtime) is ServiceRuntime
    assert runtime.state is None and runtime.next_due() is None
    assert runtime.due(START) == 0 and runtime.gauges() == ()
    seen_states.clear()
    answered: list[NumberedOutput] = []
    gateway.switch.handle_lines(
        [("CA", [(format_input("EQ", CA, ["ECHO"], "HELLO"), None)])], answered.extend
    )
    [stored] = answered
    answer = parse_output(stored.text)
    assert (answer.mke, answer.sender, answer.dest, answer.body) == ("EC", ECHO_ORI, CA, "HELLO")
    assert seen_states == [None]


async def test_effects_of_a_service_without_storage_fail_that_input_alone(
    echo_gateway: tuple[Gateway, CapturingLogger],
) -> None:
    gateway, logger = echo_gateway
    read = [
        (format_input("EQ", CA, ["ECHO"], "BEFORE", "B"), None),
        (format_input("EK", CA, ["ECHO"], "KEEP", "K"), None),
        (format_input("EQ", CA, ["ECHO"], "AFTER", "A"), None),
    ]
    stored: list[NumberedOutput] = []
    gateway.switch.handle_lines([("CA", read)], stored.extend)
    outputs = [parse_output(out.text) for out in stored]
    assert [(o.control, o.mke) for o in outputs] == [("B", "EC"), ("K", "SM"), ("A", "EC")]
    assert outputs[1].body == f"{SM_UNABLE}\nDESTINATION ECHO"
    [failure] = events(logger, "pipeline.failed")
    assert failure["error"].startswith("TypeError: ServiceRuntime stores no state")
    db = sqlite3.connect(gateway.settings.journal_path)
    try:
        states = [row[0] for row in db.execute("SELECT processed FROM inputs ORDER BY id")]
    finally:
        db.close()
    assert states == [PROCESSED, FAILED, PROCESSED]


# ---------------------------------------------------------------------------------------------
# Clashes


def nothing(exchange: Exchange) -> None:
    """A step that does nothing."""


def test_two_services_claiming_one_destination_is_an_error() -> None:
    with pytest.raises(PluginError) as caught:
        service_table([Service("alpha", frozenset({"ZZ"})), Service("beta", frozenset({"ZZ"}))])
    assert str(caught.value) == (
        "destination ZZ is claimed by services alpha and beta: uninstall one, or give one"
        " another destination"
    )


def test_a_pipeline_claiming_the_lescs_destination_is_an_error() -> None:
    mine = Pipeline("mine", frozenset({"AM"}), (nothing,), destinations=frozenset({"AX"}))
    with pytest.raises(PluginError, match="destination AX is claimed by services lesc and mine"):
        service_table([*installed(), mine])


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        ([Service("a"), Service("a")], "two services are named a"),
        (
            [Pipeline("a", frozenset({"ZA"}), (nothing,))] * 2,
            "two pipelines answer ZA to a",
        ),
        (
            [Service("a", pipelines=(Pipeline("b", frozenset({"ZA"}), (nothing,)),))],
            "service a lists a pipeline of service b",
        ),
        ([Service("a", shares="b")], "service a shares the runtime of b, which is not installed"),
        (
            [Service("a", shares="b"), Service("b")],
            "service a shares the runtime of b, which has none of its own",
        ),
    ],
)
def test_services_that_contradict_each_other(plugins: list[Any], message: str) -> None:
    with pytest.raises(PluginError, match=message):
        service_table(plugins)


def test_a_bare_pipeline_joins_its_service_and_its_runtime() -> None:
    extra = Pipeline("lesc", frozenset({"ZX"}), (nothing,))
    table = service_table([*installed(), extra])
    assert table.find("lesc", "ZX") is extra
    assert table.find("lesc", "IAQ") is not None
    assert table.owners["lesc"] == "lesc" and table.owners["ncic"] == "lesc"
    assert table.destinations["AX"] == "lesc" and table.destinations["AXADMHELP"] == "lesc_help"
    assert {"VTINS07S0", "DCFBIWA00"} <= table.sends_as


def test_an_entry_point_of_the_wrong_kind_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "iaqgw_wrong.py").write_text("service = 'not a service'\n")
    info = tmp_path / "iaqgw_wrong-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: iaqgw-wrong\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[iaqgw.services]\nwrong = iaqgw_wrong:service\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as caught:
        installed()
    assert str(caught.value) == (
        "entry point wrong in iaqgw.services is not a responders.base.Service"
    )


def test_the_registries_leave_out_the_services_oris() -> None:
    some = next(iter(load_oris(None, ["CA"], frozenset()))).ori
    assert some in load_oris(None, ["CA"], frozenset())
    assert some not in load_oris(None, ["CA"], frozenset({some}))


# ---------------------------------------------------------------------------------------------
# Timers


class Counting(ServiceRuntime):
    """Due every second; counts its calls."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls = 0

    def next_due(self) -> datetime:
        """A second from now."""
        return self.clock.now() + timedelta(seconds=1)

    def due(self, now: datetime) -> int:
        """One action each time."""
        self.calls += 1
        return 1


class Broken(ServiceRuntime):
    """A runtime whose timed actions fail."""

    def next_due(self) -> datetime:
        """Always due."""
        return START

    def due(self, now: datetime) -> int:
        """Fail, as a runtime with a bug does."""
        raise RuntimeError("TIMER TABLE GONE")


def test_a_failing_runtime_does_not_stop_another() -> None:
    clock = ManualClock(START)
    logger, log = captured()
    scheduler = Scheduler(clock, log)
    counting = Counting(clock)
    scheduler.add("broken", Broken())
    scheduler.add("counting", counting)
    assert scheduler.tick() == 1
    [failure] = events(logger, "service.due_failed")
    assert failure["service"] == "broken" and failure["error"] == "RuntimeError: TIMER TABLE GONE"
    assert failure["level"] == "error"
    # The broken one is left alone for a while; the other goes on.
    assert scheduler.tick() == 1 and counting.calls == 2
    assert len(events(logger, "service.due_failed")) == 1
    assert scheduler.next_wait() == pytest.approx(1.0)
    clock.advance(FAILED_WAIT)
    assert scheduler.tick() == 1
    assert len(events(logger, "service.due_failed")) == 2


def test_nothing_due_waits_for_a_nudge() -> None:
    scheduler = Scheduler(ManualClock(START), captured()[1])
    scheduler.add("idle", ServiceRuntime())
    assert scheduler.next_wait() is None
    assert scheduler.tick() == 0


class Sweeps(ServiceRuntime):
    """Due a minute after START; counts the sweeps that ask it."""

    def __init__(self) -> None:
        self.sweeps = 0

    def next_due(self) -> datetime:
        """A minute after START."""
        return START + timedelta(minutes=1)

    def due(self, now: datetime) -> int:
        """Nothing to take; counted."""
        self.sweeps += 1
        return 0


async def swept(runtime: Sweeps, count: int) -> None:
    """Wait until the scheduler has swept ``count`` times."""
    for _ in range(200):
        if runtime.sweeps == count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{runtime.sweeps} sweeps, not {count}")


async def test_a_nudge_by_a_time_wakes_only_before_the_planned_sweep() -> None:
    scheduler = Scheduler(ManualClock(START), captured()[1])
    runtime = Sweeps()
    scheduler.add("timed", runtime)
    task = asyncio.create_task(scheduler.run())
    try:
        await swept(runtime, 1)
        # The sweep is planned for a minute after START: a case due later wakes nothing.
        scheduler.nudge(START + timedelta(minutes=5))
        await asyncio.sleep(0.05)
        assert runtime.sweeps == 1
        scheduler.nudge(START + timedelta(seconds=30))
        await swept(runtime, 2)
        scheduler.nudge()
        await swept(runtime, 3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------------------------------------
# The journal's transaction


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal with a service's table in it."""
    made = Journal(tmp_path / "journal.sqlite3")
    made.schema("CREATE TABLE IF NOT EXISTS kept (value TEXT NOT NULL);")
    yield made
    made.close()


def pending(body: str) -> PendingOutput:
    """An output to CA."""
    return PendingOutput("CA", None, "AM", "NL0000000", CA, None, body, START, 0, START)


def rows(path: Path, sql: str) -> list[Sequence[Any]]:
    """Rows as committed, read on a connection of their own."""
    db = sqlite3.connect(path / "journal.sqlite3")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_effects_and_outputs_commit_together(journal: Journal, tmp_path: Path) -> None:
    with journal.transaction() as tx:
        tx.execute("INSERT INTO kept (value) VALUES (?)", ("ONE",))
        # Inside the block, storing outputs joins the transaction instead of committing.
        [stored] = journal.store_outputs([], [pending("FIRST")], render_output)
        assert rows(tmp_path, "SELECT value FROM kept") == []
    assert rows(tmp_path, "SELECT value FROM kept") == [("ONE",)]
    assert rows(tmp_path, "SELECT seq FROM outputs") == [(stored.seq,)]


def test_a_failure_in_the_block_rolls_back_effects_outputs_and_numbers(
    journal: Journal, tmp_path: Path
) -> None:
    with pytest.raises(KeyError), journal.transaction() as tx:
        tx.executemany("INSERT INTO kept (value) VALUES (?)", [("ONE",), ("TWO",)])
        journal.store_outputs([], [pending("LOST")], render_output)
        raise KeyError("EFFECT")
    assert rows(tmp_path, "SELECT value FROM kept") == []
    assert rows(tmp_path, "SELECT seq FROM outputs") == []
    assert journal.last_out("CA") == 0
    [stored] = journal.store_outputs([], [pending("NEXT")], render_output)
    assert stored.seq == 1


def test_a_read_only_store_takes_no_writes(tmp_path: Path) -> None:
    Journal(tmp_path / "journal.sqlite3").close()
    store = FileStore(tmp_path / "journal.sqlite3", read_only=True)
    try:
        assert store.reader().execute("SELECT COUNT(*) FROM inputs").fetchone() == (0,)
        with pytest.raises(PermissionError, match="open read-only"):
            store.transaction()
    finally:
        store.close()


def foreign_effect(exchange: Exchange) -> None:
    """Answer, and hand the LESC a change it does not know."""
    exchange.reply("AM", "VTINS07S0", "NOTED")
    exchange.effects.append(("SOMETHING", "ELSE"))


async def test_an_effect_the_lesc_does_not_know_fails_the_input(tmp_path: Path) -> None:
    logger, log = captured()
    joined = Pipeline("lesc", frozenset({"ZU"}), (foreign_effect,))
    gateway = Gateway(
        gateway_settings(tmp_path, technician_delay="off"),
        clock=ManualClock(START),
        log=log,
        plugins=[*installed(), joined],
    )
    try:
        stored: list[NumberedOutput] = []
        gateway.switch.handle_lines(
            [("CA", [(format_input("ZU", CA, ["AX"], "X"), None)])], stored.extend
        )
        [notice] = stored
    finally:
        await gateway.stop()
    assert parse_output(notice.text).body == f"{SM_UNABLE}\nDESTINATION AX"
    [failure] = events(logger, "pipeline.failed")
    assert failure["error"] == "TypeError: not a LESC effect: ('SOMETHING', 'ELSE')"


def test_a_bad_lesc_setting_stops_the_start_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingError) as caught:
        Gateway(gateway_settings(tmp_path, technician_delay="sometimes"))
    assert str(caught.value).startswith("IAQGW_TECHNICIAN_DELAY: Input should be 'off'")
    assert "\n" not in str(caught.value)
