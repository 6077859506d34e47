"""Harness defaults that follow the gateway's own: what ``make run`` does decides how long to wait.

The simulated technician of ``iaqgw serve`` answers a case after a delay capped at
``technician_delay_max`` (30 s by default). A run waits for those answers, so its drain
outlasts the cap, and a switch asks again for a hit confirmation only after twice the cap,
so with the defaults every YQ has its final YR before a second one would go, and a record
replays the same way (docs/simulator.md).

With ``--lesc-timing realistic`` the gateway holds each IAR for the research time of the
slowest index searched (at most ``RESEARCH_LONGEST`` seconds), and a technician's enhanced
response starts when that IAR goes out: a run against it waits for both.

The simulator speaks to a gateway only over the wire, so it does not import the gateway's
settings: tests/test_simulate.py checks that these values follow the gateway's defaults.
"""

from typing import Final, Literal

TECHNICIAN_DELAY_MAX: Final = 30.0
# Time for the last answer to cross a loaded gateway after the technician gave it.
ANSWER_MARGIN: Final = 10.0
DEFAULT_DRAIN: Final = TECHNICIAN_DELAY_MAX + ANSWER_MARGIN
DEFAULT_YQ_TIMEOUT: Final = 2 * TECHNICIAN_DELAY_MAX
LescTiming = Literal["immediate", "realistic"]
RESEARCH_LONGEST: Final = 255.0
REALISTIC_DRAIN: Final = RESEARCH_LONGEST + TECHNICIAN_DELAY_MAX + ANSWER_MARGIN


def parse_lesc_timing(text: str) -> LescTiming:
    """``immediate`` or ``realistic``; ValueError says what to write instead."""
    if text == "immediate":
        return "immediate"
    if text == "realistic":
        return "realistic"
    raise ValueError(f"--lesc-timing {text!r}: write immediate or realistic")


def default_drain(timing: str) -> float:
    """How long a run (or a replay) waits at the end for the gateway's last answers."""
    return REALISTIC_DRAIN if timing == "realistic" else DEFAULT_DRAIN
