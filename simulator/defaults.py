"""Harness defaults that follow the gateway's own: what ``make run`` does decides how long to wait.

The simulated technician of ``iaqgw serve`` answers a case after a delay capped at
``technician_delay_max`` (30 s by default). A run waits for those answers, so its drain
outlasts the cap, and a switch asks again for a hit confirmation only after twice the cap,
so with the defaults every YQ has its final YR before a second one would go, and a record
replays the same way (docs/simulator.md).

The simulator speaks to a gateway only over the wire, so it does not import the gateway's
settings: tests/test_simulate.py checks that this value follows the gateway's default.
"""

from typing import Final

TECHNICIAN_DELAY_MAX: Final = 30.0
# Time for the last answer to cross a loaded gateway after the technician gave it.
ANSWER_MARGIN: Final = 10.0
DEFAULT_DRAIN: Final = TECHNICIAN_DELAY_MAX + ANSWER_MARGIN
DEFAULT_YQ_TIMEOUT: Final = 2 * TECHNICIAN_DELAY_MAX
