"""Time for the gateway; injectable so tests run deadline rules without sleeping.

The ``Clock`` protocol is the plugin interface's, so services are lent the same clock.
"""

from datetime import UTC, datetime, timedelta

from responders.base import Clock

__all__ = ["Clock", "ManualClock", "SystemClock"]


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """The time last set."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._now += delta
