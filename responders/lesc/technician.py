"""The simulated LESC technician: how long a case takes, and what the technician answers.

The delay of each case is drawn when the case opens and stored with it (``tech_at``), so a
restart does not change when the technician answers. ``off`` leaves every case to the
operator (``iaqgw queue answer``).
"""

import random
from typing import Final, Literal

from responders.lesc.desk import HIT, Case, LescState
from responders.lesc.enhanced import technician_pick
from responders.lesc.hit_confirmation import technician_verdict

DelayKind = Literal["off", "fixed", "uniform", "exponential"]
ROSTER: Final = 12


class TechnicianDelay:
    """Seconds from a case opening to the simulated technician's answer.

    ``fixed``: always ``mean``; ``uniform``: between 0 and twice ``mean``; ``exponential``:
    exponentially distributed with that mean. Every draw is capped at ``maximum``.
    """

    def __init__(
        self, kind: DelayKind, mean: float, maximum: float, rng: random.Random | None = None
    ) -> None:
        self._kind = kind
        self._mean = mean
        self._maximum = maximum
        self._rng = rng or random.Random()

    def draw(self) -> float | None:
        """One delay in seconds, or None when the simulated technician is off."""
        if self._kind == "off":
            return None
        if self._kind == "fixed" or self._mean == 0:
            value = self._mean
        elif self._kind == "uniform":
            value = self._rng.uniform(0, 2 * self._mean)
        else:
            value = self._rng.expovariate(1 / self._mean)
        return min(value, self._maximum)


class SimulatedTechnician:
    """Answers queued cases as a technician comparing records by hand would."""

    def __init__(self, state: LescState) -> None:
        self._state = state

    @staticmethod
    def name(case: Case) -> str:
        """The technician on duty for a case (NAO of a hit confirmation)."""
        return f"LESC TECHNICIAN {1 + case.id % ROSTER:02d}"

    def answer(self, case: Case) -> str:
        """CONFIRMED / NOT CONFIRMED for a hit, an A-number or NRF for an enhanced IAQ."""
        index = self._state.index
        if case.kind == HIT:
            return technician_verdict(case, index.by_nic(case.nic) if case.nic else None)
        records = [index.by_arn(arn) for arn in case.candidates]
        return technician_pick(case, [record for record in records if record is not None])
