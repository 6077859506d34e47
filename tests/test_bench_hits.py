"""The hit-confirmation benchmark keeps renewed PENDINGs out of its run (make bench)."""

import math

from hypothesis import given
from hypothesis import strategies as st

from simulator.bench_hits import DUE_AFTER_S, QUIET_S, quiet_start


@given(now=st.floats(0, 2e9), intake_s=st.floats(1, 50))
def test_the_intake_starts_where_no_renewal_falls_inside_the_run(
    now: float, intake_s: float
) -> None:
    start = quiet_start(now, intake_s)
    assert now <= start < now + 60
    # A PENDING at p promises the whole minute after p + 10 minutes: the earliest renewal is
    # due DUE_AFTER_S after the minute that follows the first PENDING.
    first_pending = start + DUE_AFTER_S
    renewal = (math.floor(first_pending / 60) + 1) * 60 + DUE_AFTER_S
    assert renewal > start + intake_s + DUE_AFTER_S + QUIET_S


def test_the_intake_starts_at_once_when_the_minute_allows_it() -> None:
    # First PENDINGs from :30 of a minute to :20 of the next; renewals from :30 of that one.
    assert quiet_start(60.0 * 1000, 50.0) == 60.0 * 1000
    # From :15 on they would cross: the intake waits for the next minute's first second,
    # less DUE_AFTER_S.
    assert quiet_start(60.0 * 1000 + 15, 50.0) == 60.0 * 1001 + 1 - DUE_AFTER_S
