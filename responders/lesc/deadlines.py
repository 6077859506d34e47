"""The LESC's timed actions: what the casebook has due, taken on the injectable clock.

The gateway's generic scheduler (gateway/scheduler.py) asks the LESC's runtime when it is
next due and calls :meth:`Deadlines.tick` then. Each sweep, in this order (so a final answer
wins over a PENDING due at the same moment):

1. answers an operator gave through ``iaqgw queue answer`` go out;
2. the simulated technician answers the cases whose drawn delay has passed;
3. an open hit confirmation whose deadline minus the margin has come gets ``STA/PENDING``.

"Due" is always computed from the clock and the times stored in SQLite, so a restarted
gateway picks up where the last one stopped, and a test moves a ManualClock and nudges the
scheduler (or calls :meth:`Deadlines.tick`) instead of sleeping. Outputs go through ``emit``,
the switch's one path for outputs no arriving input caused: journaled with the effects in one
transaction, then delivered.

Each case is acted on alone (docs/reliability.md): an action that raises is logged
(``deadline.failed``) and tried again after a back-off, and the other cases go on. A hit
confirmation whose final answer keeps failing still gets its PENDING when that falls due,
also when an operator's answer is the one that cannot be sent.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from responders.base import Clock, Emission, Origin, raised_at, summary
from responders.lesc.casebook import Casebook, StaleCase
from responders.lesc.desk import HIT, Case, CaseAction, LescState
from responders.lesc.enhanced import enhanced_action
from responders.lesc.hit_confirmation import final_action, pending_action
from responders.lesc.technician import SimulatedTechnician

Emit = Callable[[Sequence[Emission]], object]
BATCH: Final = 256
# A failed action is tried again after RETRY_FIRST, then twice as long each time up to
# RETRY_MAX: well inside the 2-minute margin before a PRI/U deadline.
RETRY_FIRST: Final = timedelta(seconds=1)
RETRY_MAX: Final = timedelta(seconds=30)


def retry_delay(previous: timedelta | None) -> timedelta:
    """How long a failed timed action waits: RETRY_FIRST, then twice the last wait, up to
    RETRY_MAX (every LESC timer: case actions here, held IARs in held.py)."""
    return RETRY_FIRST if previous is None else min(previous * 2, RETRY_MAX)

# The three timed actions, in the order of a sweep.
ActionKind = Literal["operator", "technician", "pending"]


@dataclass(frozen=True, slots=True)
class _Retry:
    """When a failed action of a case may be tried again, after how long, how often it failed."""

    at: datetime
    delay: timedelta
    failures: int


def origin_of(case: Case) -> Origin:
    """The input that opened the case: header line 2 and control field of every answer."""
    return Origin(case.id, case.received_at, case.in_seq, case.control)


class Deadlines:
    """Takes the casebook's timed actions when they fall due."""

    def __init__(
        self,
        *,
        casebook: Casebook,
        state: LescState,
        technician: SimulatedTechnician,
        clock: Clock,
        emit: Emit,
        poll: float,
        log: Any,
    ) -> None:
        self._casebook = casebook
        self._state = state
        self._technician = technician
        self._clock = clock
        self._emit = emit
        self._poll = poll
        self._log = log
        self._retry: dict[tuple[ActionKind, int], _Retry] = {}

    def next_due(self) -> datetime:
        """When to sweep next: the next due action, or its retry, and a poll from now at the
        latest (it finds answers an operator gave through the CLI, which another process
        wrote)."""
        now = self._clock.now()
        poll = now + timedelta(seconds=self._poll)
        next_due = self._casebook.next_due()
        if next_due is not None and next_due <= now and self._retry:
            # What is due waits for its retry (a sweep takes every other due action).
            next_due = min(retry.at for retry in self._retry.values())
        return poll if next_due is None else min(next_due, poll)

    def tick(self, now: datetime | None = None) -> int:
        """Take every action due by ``now`` (the clock's), up to a batch of each kind.

        Returns how many were taken.
        """
        now = self._clock.now() if now is None else now
        casebook = self._casebook
        acted = self._act("operator", casebook.answered(BATCH), now, self._operator_answer)
        acted += self._act(
            "technician", casebook.technician_due(now, BATCH), now, self._technician_answer
        )
        acted += self._act("pending", casebook.pending_due(now, BATCH), now, self._pending)
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
            return final_action(case, answer, by, remark, self._state, now, due)
        return enhanced_action(case, answer, by, remark, self._state, now, due)

    def _pending(self, case: Case, now: datetime, due: datetime | None) -> CaseAction:
        assert due is not None
        return pending_action(case, self._state.ori, now, due)

    def _act(
        self,
        kind: ActionKind,
        due: list[tuple[Case, datetime | None]],
        now: datetime,
        action: Callable[[Case, datetime, datetime | None], CaseAction],
    ) -> int:
        self._forget(kind, due)
        cases = {case.id: case for case, _ in due}
        batch: dict[int, Emission] = {}
        with self._casebook.staged() as staged:
            for case, due_at in due:
                retry = self._retry.get((kind, case.id))
                if retry is not None and now < retry.at:
                    continue
                try:
                    result = action(case, now, due_at)
                except Exception as exc:
                    self._failed(kind, case, now, exc)
                    continue
                staged.extend(result.effects)
                batch[case.id] = Emission(origin_of(case), result.replies, result.effects)
        return self._send(kind, batch, cases, now)

    def _send(
        self, kind: ActionKind, batch: dict[int, Emission], cases: dict[int, Case], now: datetime
    ) -> int:
        """Emit a batch of actions; when it fails, each on its own. Returns how many went out."""
        while batch:
            try:
                self._emit(list(batch.values()))
            except StaleCase as exc:
                # An operator answered it meanwhile: the next sweep sends that answer.
                del batch[exc.case_id]
                continue
            except Exception as exc:
                if len(batch) == 1:
                    self._failed(kind, cases[next(iter(batch))], now, exc)
                    return 0
                # One case's outputs or changes sank the batch: the others go out alone.
                return sum(
                    self._send(kind, {case_id: emission}, cases, now)
                    for case_id, emission in batch.items()
                )
            for case_id in batch:
                self._retry.pop((kind, case_id), None)
            return len(batch)
        return 0

    def _failed(self, kind: ActionKind, case: Case, now: datetime, exc: Exception) -> None:
        """Log a case's failed action and put its next try off (doubling, up to RETRY_MAX)."""
        previous = self._retry.get((kind, case.id))
        delay = retry_delay(None if previous is None else previous.delay)
        failures = 1 if previous is None else previous.failures + 1
        self._retry[(kind, case.id)] = _Retry(now + delay, delay, failures)
        self._log.error(
            "deadline.failed",
            case=case.control_number,
            kind=case.kind,
            action=kind,
            line=case.line,
            ori=case.ori,
            failures=failures,
            retry_s=delay.total_seconds(),
            error=summary(exc),
            where=raised_at(exc),
        )

    def _forget(self, kind: ActionKind, due: list[tuple[Case, datetime | None]]) -> None:
        """Drop the retries of cases no longer due for this action (closed, or moved on)."""
        if len(due) == BATCH:
            # A full batch may have left a failing case out: keep everything.
            return
        ids = {case.id for case, _ in due}
        for key in [key for key in self._retry if key[0] == kind and key[1] not in ids]:
            del self._retry[key]
