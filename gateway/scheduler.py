"""The timer loop: asks each service's runtime when it is next due, and runs it then.

The loop wakes when the earliest runtime is due or when nudged, and then has every runtime
take what is due by now (``due(now)``: cheap when nothing is). What a service does when due,
and how it keeps one failing case from holding up the others, is its own (the LESC's:
responders/lesc/deadlines.py). This loop only keeps one failing runtime from stopping the
others: a runtime whose ``due`` or ``next_due`` raises is logged (``service.due_failed``)
and left alone for FAILED_WAIT.

Due times come from the injectable clock, so a test moves a ManualClock and calls
:meth:`Scheduler.nudge` (or :meth:`Scheduler.tick`) instead of sleeping.
"""

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any, Final

from responders.base import Clock, ServiceRuntime, raised_at, summary

# Shortest wait between sweeps, so a due action that could not be taken is not spun on.
MIN_WAIT: Final = 0.01
# How long a runtime whose hooks raised is left alone.
FAILED_WAIT: Final = timedelta(seconds=1)


class Scheduler:
    """Runs the runtimes' timed actions when they fall due."""

    def __init__(self, clock: Clock, log: Any) -> None:
        self._clock = clock
        self._log = log
        self._runtimes: dict[str, ServiceRuntime] = {}
        # Runtimes whose hooks raised, and when they may be asked again.
        self._held: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        # When the sweep :meth:`next_wait` planned falls due (None: it waits for a nudge).
        self._planned: datetime | None = None

    def add(self, name: str, runtime: ServiceRuntime) -> None:
        """Run this runtime's timed actions too."""
        self._runtimes[name] = runtime

    def nudge(self, by: datetime | None = None) -> None:
        """Ask every runtime again now (its state changed, or a test moved the clock), or
        only when ``by``, a new due time, comes before the sweep already planned.

        A fifth of the IAQs open an enhanced case, due minutes later or never: at 5,000 IAQ/s
        their nudges made 3,800 sweeps in 5 s, some 100 us each (docs/benchmarks.md, round 22).
        """
        if by is not None and self._planned is not None and by >= self._planned:
            return
        self._wake.set()

    def tick(self) -> int:
        """Have every runtime take what is due now; return how many actions they took."""
        now = self._clock.now()
        acted = 0
        for name, runtime in self._runtimes.items():
            if self._held.get(name, now) > now:
                continue
            try:
                acted += runtime.due(now)
            except Exception as exc:
                self._hold(name, now, exc)
            else:
                self._held.pop(name, None)
        return acted

    def next_wait(self) -> float | None:
        """Seconds until a runtime is next due (None: none is, wait for a nudge)."""
        now = self._clock.now()
        times: list[datetime] = []
        for name, runtime in self._runtimes.items():
            held = self._held.get(name)
            if held is not None and held > now:
                times.append(held)
                continue
            try:
                due = runtime.next_due()
            except Exception as exc:
                times.append(self._hold(name, now, exc))
                continue
            if due is not None:
                times.append(due)
        self._planned = min(times, default=None)
        if self._planned is None:
            return None
        return max((self._planned - now).total_seconds(), MIN_WAIT)

    async def run(self) -> None:
        """Sweep until cancelled: at once when nudged, else when a runtime is next due."""
        while True:
            if self.tick():
                # More may be due: let sessions run, then sweep again.
                await asyncio.sleep(0)
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
            # that arrives as the event is set, and then stop() would wait on this forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.next_wait()):
                    await self._wake.wait()
            self._wake.clear()

    def _hold(self, name: str, now: datetime, exc: Exception) -> datetime:
        until = self._held[name] = now + FAILED_WAIT
        self._log.error(
            "service.due_failed",
            service=name,
            retry_s=FAILED_WAIT.total_seconds(),
            error=summary(exc),
            where=raised_at(exc),
        )
        return until
