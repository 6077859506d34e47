"""``iaqgw serve`` sets the collector up for a long-running switch (gateway/cli.py)."""

import gc
from collections.abc import Iterator

import pytest

from gateway.cli import YOUNG_COLLECTION_THRESHOLD, steady_state_gc


@pytest.fixture
def collector() -> Iterator[None]:
    """Give the test process its collector settings back afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_start_up_objects_are_frozen_and_young_collections_rarer() -> None:
    built_at_start = [[n] for n in range(1000)]
    steady_state_gc()
    # The objects alive at start-up are never scanned again.
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD > 700
    # The older generations keep CPython's own thresholds.
    assert gc.get_threshold()[1:] == (10, 10)
