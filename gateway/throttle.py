"""Sign-on lockout after repeated invalid attempts, per peer address and per line.

CJIS Security Policy 5.5.3 asks for no more than 5 consecutive invalid access attempts and
then a lock of the account or node for 10 minutes; the defaults follow it
(docs/reliability.md, "Authentication").
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Above this many remembered keys, entries with nothing to remember any more are dropped, so
# a storm from many addresses cannot grow the table without bound.
PRUNE_ABOVE = 4096


@dataclass(slots=True)
class _Attempts:
    failures: int = 0
    pending: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class SignonThrottle:
    """Counts consecutive failed sign-ons by key (``peer:ADDR``, ``line:CA``) and locks keys."""

    def __init__(self, max_failures: int, lockout: float, now: Callable[[], float]) -> None:
        self._max = max_failures
        self._lockout = lockout
        self._now = now
        self._keys: dict[str, _Attempts] = {}

    def locked(self, keys: Iterable[str]) -> str | None:
        """The first of ``keys`` that is locked now, or None.

        Attempts under way count with the failures, so a burst of parallel guesses at one line
        cannot run more key checks than the limit allows.
        """
        now = self._now()
        for key in keys:
            entry = self._keys.get(key)
            if entry is not None and (
                entry.locked_until > now or entry.failures + entry.pending >= self._max
            ):
                return key
        return None

    def _entry(self, key: str, now: float) -> _Attempts:
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = _Attempts()
        elif now - entry.last > self._lockout:
            # Failures long ago are not "consecutive" with this attempt any more.
            entry.failures = 0
        entry.last = now
        return entry

    def begin(self, keys: Iterable[str]) -> None:
        """Mark an attempt under way for ``keys`` (the line's, not the address's).

        Only a line's parallel attempts are held against it: several lines signing on at
        once from one host (a hub, a test harness) are not guessing.
        """
        now = self._now()
        for key in keys:
            self._entry(key, now).pending += 1
        if len(self._keys) > PRUNE_ABOVE:
            self._prune(now)

    def failed(self, keys: Iterable[str], pending: Iterable[str] = ()) -> list[str]:
        """Count a failed attempt (ending those under way for ``pending``); returns keys locked."""
        now = self._now()
        for key in pending:
            entry = self._keys.get(key)
            if entry is not None:
                entry.pending = max(0, entry.pending - 1)
        newly: list[str] = []
        for key in keys:
            entry = self._entry(key, now)
            entry.failures += 1
            if entry.failures >= self._max and entry.locked_until <= now:
                entry.locked_until = now + self._lockout
                entry.failures = 0
                newly.append(key)
        return newly

    def succeeded(self, keys: Iterable[str]) -> None:
        """A valid sign-on ends the run of failures for its keys."""
        for key in keys:
            self._keys.pop(key, None)

    def _prune(self, now: float) -> None:
        self._keys = {
            key: entry
            for key, entry in self._keys.items()
            if entry.locked_until > now or entry.pending or now - entry.last <= self._lockout
        }
