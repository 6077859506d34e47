"""Response time profiles: when the LESC's IAR goes out (docs/lesc.md, "Response times").

``immediate`` (the default, for load tests and benchmarks) answers an IAQ in the same
transaction as its acknowledgement. ``realistic`` sends the acknowledgement at once and holds
the IAR, with the outputs that go with it (detainer notices, NICS copies), for the research
time of the slowest index searched: each index's time is drawn from its own distribution, and
III's is its index search plus the slowest of the state repositories it queried.

Draws are deterministic per query: they are seeded from the query's sender, control field and
text, so a replay of the same traffic waits the same times. The held outputs are an effect
(:class:`AnswerHeld`) written with the acknowledgement in one transaction; the LESC's runtime
releases them when due (responders/lesc/held.py).
"""

import hashlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from responders.base import Exchange, Reply
from responders.lesc.desk import ENHANCED, CaseOpened, lesc_state
from responders.lesc.iaq_steps import ACKNOWLEDGEMENT

TimingMode = Literal["immediate", "realistic"]
IMMEDIATE: Final = "immediate"
REALISTIC: Final = "realistic"


class IndexFinding(Protocol):
    """What the timing reads of an index's finding (``exchange.data["indices"]``)."""

    @property
    def index(self) -> str:
        """The index searched: CIS, NCIC, III, SEVIS, IDENT, NSEERS."""
        ...

    @property
    def repositories(self) -> int:
        """How many state repositories III queried (0 for the other indices)."""
        ...


@dataclass(frozen=True, slots=True)
class Research:
    """A lognormal research time: its median and log-spread in seconds, capped."""

    median: float
    spread: float
    cap: float

    def draw(self, rng: random.Random) -> float:
        """One research time in seconds."""
        return min(rng.lognormvariate(math.log(self.median), self.spread), self.cap)


# The central index the LESC always searches; the one timed when no findings are listed.
CENTRAL: Final = "CIS"
III: Final = "III"
# Per index (docs/lesc.md gives the sources): automated look-ups in seconds, the DHS systems
# a technician's screens reach in tens of seconds; III's entry is its index search alone.
RESEARCH: Final[Mapping[str, Research]] = {
    CENTRAL: Research(2.0, 0.5, 15.0),
    "NCIC": Research(0.2, 0.5, 2.0),
    III: Research(5.0, 0.3, 15.0),
    "SEVIS": Research(20.0, 0.6, 90.0),
    "IDENT": Research(20.0, 0.6, 90.0),
    "NSEERS": Research(20.0, 0.6, 90.0),
}
# An index the table does not list is timed as a DHS system.
OTHER_INDEX: Final = Research(20.0, 0.6, 90.0)
# Each state criminal history repository III queries answers on its own: the slowest wins.
STATE_REPOSITORY: Final = Research(30.0, 0.8, 240.0)
# The longest research time a query can draw at scale 1 (III with its slowest state).
LONGEST: Final = max(
    max(research.cap for research in RESEARCH.values()),
    OTHER_INDEX.cap,
    RESEARCH[III].cap + STATE_REPOSITORY.cap,
)


@dataclass(frozen=True, slots=True)
class _Central:
    """The finding timed when the exchange lists none: the central index alone."""

    index: str = CENTRAL
    repositories: int = 0


class ResearchTime:
    """Seconds from a query's arrival to its IAR in realistic mode.

    ``scale`` multiplies every draw (0.01: a hundred times faster); ``fixed``, when given,
    is every index's time instead of a draw (tests that need a known delay).
    """

    def __init__(self, scale: float = 1.0, fixed: float | None = None) -> None:
        self._scale = scale
        self._fixed = fixed

    def of(self, findings: Iterable[IndexFinding], seed: bytes) -> float:
        """The research time of the slowest index searched (the central index when none)."""
        if self._fixed is not None:
            return self._fixed
        listed = list(findings) or [_Central()]
        return self._scale * max(self.index_time(finding, seed) for finding in listed)

    @staticmethod
    def index_time(finding: IndexFinding, seed: bytes) -> float:
        """One index's research time at scale 1: its draw, and III's slowest state on top.

        Each index draws from its own generator, so adding an index to a query does not change
        the others' times. Only III queries state repositories.
        """
        name = finding.index
        seconds = RESEARCH.get(name, OTHER_INDEX).draw(_rng(seed, name))
        queried = finding.repositories if name == III else 0
        states = [STATE_REPOSITORY.draw(_rng(seed, f"{name}/{n}")) for n in range(queried)]
        return seconds + max(states, default=0.0)


def _rng(seed: bytes, label: str) -> random.Random:
    # bytes seed a Random the same way in every process (no hash randomisation).
    return random.Random(hashlib.sha256(seed + b"\x1f" + label.encode()).digest())


def query_seed(exchange: Exchange) -> bytes:
    """What a query's draws are seeded from: sender, control field and text."""
    message = exchange.message
    return "\x1f".join((message.sender, message.control or "", message.body)).encode()


@dataclass(frozen=True, slots=True)
class AnswerHeld:
    """An IAQ's answer held until ``release_at``; ``replies`` go out then, in this order."""

    input_id: int
    line: str
    received_at: datetime
    control: str | None
    release_at: datetime
    research_s: float
    replies: tuple[Reply, ...]


@dataclass(frozen=True, slots=True)
class AnswerReleased:
    """A held answer went out (written in the transaction that journals its outputs)."""

    input_id: int
    at: datetime
    release_at: datetime


def is_acknowledgement(reply: Reply) -> bool:
    """The AM that says the LESC has the query: it goes out at once in every mode."""
    return reply.mke == "AM" and reply.body.startswith(ACKNOWLEDGEMENT)


def hold_answer(exchange: Exchange) -> None:
    """Realistic timing: hold every output but the acknowledgement for the research time.

    An enhanced response's case opens when the held IAR that announces it goes out, so the
    simulated technician's own delay counts from there and its enhanced IAR follows the first.
    """
    timing = lesc_state(exchange).timing
    if timing is None:
        return
    held = tuple(reply for reply in exchange.outputs if not is_acknowledgement(reply))
    if not held:
        return
    findings: Sequence[IndexFinding] = exchange.data.get("indices") or ()
    seconds = timing.of(findings, query_seed(exchange))
    release_at = exchange.received_at + timedelta(seconds=seconds)
    exchange.outputs[:] = [reply for reply in exchange.outputs if is_acknowledgement(reply)]
    exchange.effects[:] = [
        CaseOpened(effect.case, release_at)
        if isinstance(effect, CaseOpened) and effect.case.kind == ENHANCED
        else effect
        for effect in exchange.effects
    ]
    exchange.effects.append(
        AnswerHeld(
            input_id=int(exchange.control_number),
            line=exchange.line,
            received_at=exchange.received_at,
            control=exchange.message.control,
            release_at=release_at,
            research_s=seconds,
            replies=held,
        )
    )
