"""One failing LESC case never stops the others; its PENDING YR still goes out (issue 9).

The scheduler runs on a ManualClock and is swept by calling ``tick``; the index it reads
through cannot read one NIC's record, as with a damaged row, so every final answer for that
case fails while its PENDING (which needs no record) can still be given.
"""

import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import gateway_settings
from lesc_support import LOPEZ_NIC, PEREZ_NIC, lesc_of, yq
from messages import field_lines
from structlog.testing import CapturingLogger

from formats.output import OutputMessage, parse_output
from gateway.app import Gateway
from gateway.clock import ManualClock
from gateway.store import FileStore
from responders.lesc.casebook import answer_case
from responders.lesc.deadlines import RETRY_FIRST, RETRY_MAX, Deadlines
from responders.lesc.desk import ANSWERED, CLOSED, OPEN, LescState
from responders.lesc.technician import SimulatedTechnician

TX = "TX0000000"
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


class DamagedIndex:
    """The gateway's index, except that the record of ``damaged`` cannot be read."""

    def __init__(self, index: Any, damaged: str | None) -> None:
        self._index = index
        self.damaged = damaged

    def by_nic(self, nic: str) -> Any:
        """The IVF record, or KeyError for the damaged one."""
        if nic == self.damaged:
            raise KeyError(f"IVF ROW {nic}")
        return self._index.by_nic(nic)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)


class Rig:
    """A gateway's parts (not serving) and a scheduler reading through a damaged index."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.logger = CapturingLogger()
        log = structlog.wrap_logger(
            self.logger,
            processors=[structlog.processors.add_log_level],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        )
        self.clock = ManualClock(START)
        self.gateway = Gateway(gateway_settings(tmp_path, **settings), clock=self.clock, log=log)
        lesc = lesc_of(self.gateway)
        self.index = DamagedIndex(lesc.index, LOPEZ_NIC)
        state = LescState(self.index, lesc.casebook, self.gateway.lines)
        self.deadlines = Deadlines(
            casebook=lesc.casebook,
            state=state,
            technician=SimulatedTechnician(state),
            clock=self.clock,
            emit=partial(self.gateway.services.emit, "lesc"),
            poll=10.0,
            log=log,
        )
        self.path = tmp_path / "data" / "journal.sqlite3"

    def yq(self, **fields: str) -> None:
        """A YQ from TX that needs the technician (a partial name match)."""
        self.gateway.switch.handle_lines([("TX", [(yq(TX, **fields), None)])], lambda _: None)

    def advance(self, delta: timedelta) -> int:
        """Move the clock and sweep."""
        self.clock.advance(delta)
        return self.deadlines.tick()

    def yrs(self) -> list[OutputMessage]:
        """Every YR stored for TX (the requester), in order."""
        outputs = [parse_output(o.text) for o in self.gateway.journal.outputs_after("TX", 0)]
        return [o for o in outputs if o.mke == "YR"]

    def failures(self) -> list[dict[str, Any]]:
        """``deadline.failed`` log events."""
        return [c.kwargs for c in self.logger.calls if c.kwargs.get("event") == "deadline.failed"]


def sta(out: OutputMessage) -> str:
    """The STA/ of a YR."""
    return field_lines(out.body)["STA"]


LOPEZ = {"nam": "LOPES, CARLOS", "oca": "L-1"}  # Soundex of LOPEZ: the technician must look
PEREZ = {"nam": "PERES, ANA", "dob": "19920909", "sex": "F", "nic": PEREZ_NIC, "oca": "P-2"}


@pytest.fixture
async def technician(tmp_path: Path) -> AsyncIterator[Rig]:
    """The simulated technician answers a minute after each case opens."""
    rig = Rig(tmp_path, technician_delay="fixed", technician_delay_mean=60)
    yield rig
    await rig.gateway.stop()


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Rig]:
    """Only an operator answers."""
    rig = Rig(tmp_path, technician_delay="off")
    yield rig
    await rig.gateway.stop()


def case_state(rig: Rig, case_id: int) -> str:
    """A case's state, read as the operator's CLI reads it."""
    db = sqlite3.connect(rig.path)
    try:
        row = db.execute("SELECT state FROM lesc_cases WHERE id = ?", (case_id,)).fetchone()
        return str(row[0])
    finally:
        db.close()


async def test_a_failing_case_does_not_stop_the_others(technician: Rig) -> None:
    technician.yq(**LOPEZ)
    technician.clock.advance(SECOND)
    technician.yq(**PEREZ)
    assert technician.advance(MINUTE) == 1
    [answered] = technician.yrs()
    assert field_lines(answered.body)["NIC"] == PEREZ_NIC and sta(answered) != "PENDING"
    assert (case_state(technician, 1), case_state(technician, 2)) == (OPEN, CLOSED)
    [failure] = technician.failures()
    assert failure["level"] == "error" and failure["case"] == "0000000001"
    assert failure["action"] == "technician"
    assert failure["error"] == f"KeyError: 'IVF ROW {LOPEZ_NIC}'"


async def test_a_failing_final_answer_is_retried_with_backoff_and_the_pending_goes_out(
    technician: Rig,
) -> None:
    technician.yq(**LOPEZ)
    technician.advance(MINUTE)
    assert len(technician.failures()) == 1
    # Not tried again before its retry time, however often the scheduler sweeps.
    assert technician.advance(timedelta(0)) == 0
    assert len(technician.failures()) == 1
    wait = technician.deadlines.next_due() - technician.clock.now()
    assert wait == RETRY_FIRST
    technician.advance(RETRY_FIRST)
    assert len(technician.failures()) == 2
    technician.advance(RETRY_FIRST)  # the second retry waits twice as long
    assert len(technician.failures()) == 2
    technician.advance(RETRY_FIRST)
    assert len(technician.failures()) == 3
    # The PENDING falls due 8 minutes after the YQ and goes out though the answer fails.
    technician.clock.advance(START + 8 * MINUTE - technician.clock.now())
    technician.deadlines.tick()
    [pending] = technician.yrs()
    assert sta(pending) == "PENDING" and pending.in_seq == 1
    assert case_state(technician, 1) == OPEN
    # However long it keeps failing, it is tried every RETRY_MAX at the longest.
    for _ in range(64):
        technician.advance(RETRY_MAX)
    assert technician.failures()[-1]["retry_s"] == RETRY_MAX.total_seconds()
    assert technician.failures()[-1]["failures"] == len(technician.failures())
    # The record is readable again: the next retry gives the final answer.
    technician.index.damaged = None
    technician.advance(RETRY_MAX)
    assert sta(technician.yrs()[-1]) in ("CONFIRMED", "NOT CONFIRMED")
    assert case_state(technician, 1) == CLOSED


async def test_the_pending_goes_out_when_an_operators_answer_cannot_be_sent(
    operator: Rig,
) -> None:
    operator.yq(**LOPEZ)
    store = FileStore(operator.path)
    answer_case(store, 1, "CONFIRMED", "OFFICER DIAZ", None, START)
    store.close()
    assert operator.advance(MINUTE) == 0
    assert [f["action"] for f in operator.failures()] == ["operator"]
    assert case_state(operator, 1) == ANSWERED
    operator.clock.advance(7 * MINUTE)
    operator.deadlines.tick()
    [pending] = operator.yrs()
    assert sta(pending) == "PENDING"
    operator.index.damaged = None
    operator.advance(RETRY_MAX)
    final = operator.yrs()[-1]
    assert sta(final) == "CONFIRMED" and field_lines(final.body)["NAO"] == "OFFICER DIAZ"
    assert case_state(operator, 1) == CLOSED
