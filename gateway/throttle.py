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
    count: int = 0
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

        A key with as many attempts under way as failures allowed counts as locked too, so
        a burst of parallel attempts cannot run more key checks than the limit.
        """
        now = self._now()
        for key in keys:
            entry = self._keys.get(key)
            if entry is not None and (entry.locked_until > now or entry.count >= self._max):
                return key
        return None

    def begin(self, keys: Iterable[str]) -> None:
        """Count an attempt before its key is checked, so parallel attempts count too."""
        now = self._now()
        for key in keys:
            entry = self._keys.get(key)
            if entry is None or now - entry.last > self._lockout:
                # Failures long ago are not "consecutive" with this one any more.
                entry = self._keys[key] = _Attempts()
            entry.count += 1
            entry.last = now
        if len(self._keys) > PRUNE_ABOVE:
            self._prune(now)

    def failed(self, keys: Iterable[str]) -> list[str]:
        """Settle a failed attempt; returns the keys this failure locked."""
        now = self._now()
        newly: list[str] = []
        for key in keys:
            entry = self._keys.get(key)
            if entry is not None and entry.count >= self._max and entry.locked_until <= now:
                entry.locked_until = now + self._lockout
                entry.count = 0
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
            if entry.locked_until > now or now - entry.last <= self._lockout
        }
