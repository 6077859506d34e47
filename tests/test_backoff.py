"""The reconnect backoff shared by the gateway's bus and the simulator's MQTT lines."""

import random
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bus.backoff import Backoff


def draws(values: list[float]) -> Callable[[], float]:
    """A random source that returns ``values`` in turn."""
    source: Iterator[float] = iter(values)
    return lambda: next(source)


def test_delays_double_up_to_the_cap_and_reset() -> None:
    backoff = Backoff(0.25, 5.0, rng=lambda: 0.5)  # 0.5: no spread either way
    assert [backoff.next() for _ in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.25


def test_jitter_spreads_each_delay_by_its_share() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.25, rng=draws([0.0, 1.0, 0.0]))
    assert [backoff.next() for _ in range(3)] == [0.75, 2.5, 3.0]


def test_without_jitter_the_source_is_not_felt() -> None:
    backoff = Backoff(0.1, 2.0, jitter=0.0, rng=draws([0.0, 0.9, 0.3]))
    assert [backoff.next() for _ in range(3)] == pytest.approx([0.1, 0.2, 0.4])


def test_clients_with_their_own_sources_do_not_wait_alike() -> None:
    first = Backoff(0.25, 5.0, rng=random.Random(1).random)
    second = Backoff(0.25, 5.0, rng=random.Random(2).random)
    assert [first.next() for _ in range(5)] != [second.next() for _ in range(5)]


@given(
    first=st.floats(0.001, 10),
    factor=st.floats(1, 100),
    jitter=st.floats(0, 0.99),
    values=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=40),
)
def test_every_delay_is_its_doubled_base_within_the_jitter(
    first: float, factor: float, jitter: float, values: list[float]
) -> None:
    most = first * factor
    backoff = Backoff(first, most, jitter=jitter, rng=draws(values))
    base = first
    for _ in values:
        delay = backoff.next()
        assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9
        assert delay <= most * (1 + jitter) + 1e-9
        base = min(base * 2, most)


@pytest.mark.parametrize(
    ("first", "most", "jitter", "reason"),
    [(0.0, 1.0, 0.25, "first <= most"), (2.0, 1.0, 0.25, "first <= most"),
     (0.1, 1.0, 1.0, "share below 1"), (0.1, 1.0, -0.1, "share below 1")],
)
def test_bad_settings_are_refused(first: float, most: float, jitter: float, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Backoff(first, most, jitter=jitter)
