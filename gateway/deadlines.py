"""The LESC scheduler: every timed action of the casebook, on the injectable clock.

Each sweep, in this order (so a final answer wins over a PENDING due at the same moment):

1. answers an operator gave through ``iaqgw queue answer`` go out;
2. the simulated technician answers the cases whose drawn delay has passed;
3. an open hit confirmation whose deadline minus the margin has come gets ``STA/PENDING``.

"Due" is always computed from ``clock.now()`` and the times stored in SQLite, so a restarted
gateway picks up where the last one stopped, and a test moves a ManualClock and calls
:meth:`Deadlines.nudge` (or :meth:`Deadlines.tick`) instead of sleeping. Outputs go through
``emit``, the gateway's one path for outputs no arriving input caused: journaled with the
effects in one transaction, then delivered.
"""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from gateway.casebook import Casebook, StaleCase
from gateway.clock import Clock
from gateway.switch import Origin
from gateway.technician import SimulatedTechnician
from responders.base import Reply, Services
from responders.enhanced import enhanced_action
from responders.hit_confirmation import final_action, pending_action
from responders.lesc_desk import HIT, Case, CaseAction, Effect

Emission = tuple[Origin, Sequence[Reply], Sequence[Effect]]
Emit = Callable[[Sequence[Emission]], object]
BATCH: Final = 256
# Shortest wait between sweeps, so a due action that could not be taken is not spun on.
MIN_WAIT: Final = 0.01


def origin_of(case: Case) -> Origin:
    """The input that opened the case: header line 2 and control field of every answer."""
    return Origin(case.id, case.received_at, case.in_seq, case.control)


class Deadlines:
    """Takes the casebook's timed actions when they fall due."""

    def __init__(
        self,
        *,
        casebook: Casebook,
        services: Services,
        technician: SimulatedTechnician,
        clock: Clock,
        emit: Emit,
        poll: float,
        log: Any,
    ) -> None:
        self._casebook = casebook
        self._services = services
        self._technician = technician
        self._clock = clock
        self._emit = emit
        self._poll = poll
        self._log = log
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Sweep now (the casebook changed, or a test moved the clock)."""
        self._wake.set()

    async def run(self) -> None:
        """Sweep until cancelled: at once when nudged, else when the next action is due."""
        while True:
            try:
                acted = self.tick()
            except Exception:
                # A fault here must not stop the deadlines of every other case.
                self._log.exception("deadlines.error")
                acted = 0
            if acted:
                # More may be due: let sessions run, then sweep again.
                await asyncio.sleep(0)
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
            # that arrives as the event is set, and then stop() would wait on this forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait()):
                    await self._wake.wait()
            self._wake.clear()

    def _wait(self) -> float:
        wait = self._poll
        next_due = self._casebook.next_due()
        if next_due is not None:
            wait = min(wait, (next_due - self._clock.now()).total_seconds())
        return max(wait, MIN_WAIT)

    def tick(self) -> int:
        """Take every action due now, up to a batch of each kind; return how many were taken."""
        now = self._clock.now()
        acted = self._act(self._casebook.answered(BATCH), now, self._operator_answer)
        acted += self._act(self._casebook.technician_due(now, BATCH), now, self._technician_answer)
        acted += self._act(self._casebook.pending_due(now, BATCH), now, self._pending)
        return acted

    def _operator_answer(self, case: Case, now: datetime, due: datetime | None) -> CaseAction:
        return self._final(case, case.answer or "", case.answered_by or "LESC OPERATOR",
                           case.remark, now, due)

    def _technician_answer(self, case: Case, now: datetime, due: datetime | None) -> CaseAction:
        return self._final(case, self._technician.answer(case), self._technician.name(case),
                           None, now, due)

    def _final(
        self, case: Case, answer: str, by: str, remark: str | None, now: datetime,
        due: datetime | None,
    ) -> CaseAction:
        if case.kind == HIT:
            return final_action(case, answer, by, remark, self._services, now, due)
        return enhanced_action(case, answer, by, remark, self._services, now, due)

    def _pending(self, case: Case, now: datetime, due: datetime | None) -> CaseAction:
        assert due is not None
        return pending_action(case, now, due)

    def _act(
        self,
        due: list[tuple[Case, datetime | None]],
        now: datetime,
        action: Callable[[Case, datetime, datetime | None], CaseAction],
    ) -> int:
        batch: dict[int, Emission] = {}
        for case, due_at in due:
            result = action(case, now, due_at)
            batch[case.id] = (origin_of(case), result.replies, result.effects)
        while batch:
            try:
                self._emit(list(batch.values()))
            except StaleCase as exc:
                # An operator answered it meanwhile: the next sweep sends that answer.
                del batch[exc.case_id]
                continue
            return len(batch)
        return 0
