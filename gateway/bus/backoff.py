"""How long to wait before the next attempt to reach a broker: one rule for every reconnect loop.

Pure (no clock, no sleep): the caller sleeps for what :meth:`Backoff.next` returns, so tests
feed a random source and read the delays. It sits beside the MQTT client it paces, in a module
that imports nothing, so the simulator's MQTT lines use it as the gateway does.
"""

import random
from collections.abc import Callable


class Backoff:
    """Delays that double from ``first`` up to ``most``, each spread by ± ``jitter`` of itself.

    The spread keeps clients that lost the broker together from coming back in lockstep.
    """

    def __init__(
        self,
        first: float,
        most: float,
        jitter: float = 0.25,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < first <= most:
            raise ValueError(f"backoff needs 0 < first <= most, not {first} and {most}")
        if not 0 <= jitter < 1:
            raise ValueError(f"backoff jitter is a share below 1, not {jitter}")
        self._first = first
        self._most = most
        self._jitter = jitter
        self._rng = rng
        self._base = first

    def next(self) -> float:
        """The wait before the next attempt; the one after it is twice as long (up to ``most``)."""
        delay = self._base * (1 - self._jitter + 2 * self._jitter * self._rng())
        self._base = min(self._base * 2, self._most)
        return delay

    def reset(self) -> None:
        """Start again from ``first``: the last attempt succeeded."""
        self._base = self._first
