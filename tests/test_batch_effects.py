"""The effects of the batch being answered, as a service reads them before they are written
(gateway/services.py ``Batch``, responders/lesc/casebook.py): a look-up costs an input what
the batch grew by since the last, not the batch's length."""

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, SupportsIndex, overload

import pytest

from gateway.clock import ManualClock
from gateway.services import Batch
from responders.lesc.casebook import SCHEMA, Casebook
from responders.lesc.desk import (
    HIT,
    OPEN,
    Case,
    CaseOpened,
    CasePending,
    DetainerLodged,
    QueryServed,
)

AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_a_runtimes_effects_are_one_sequence_until_some_are_dropped() -> None:
    batch = Batch()
    batch.effects.extend([("LESC", "a"), ("NCIC", "x")])
    lesc = batch.of("LESC")
    assert list(lesc) == ["a"] and list(batch.of("NCIC")) == ["x"]
    batch.effects.extend([("LESC", "b"), ("LESC", "c")])
    assert batch.of("LESC") is lesc and list(lesc) == ["a", "b", "c"]
    # Dropping what was never read leaves the sequence as it is.
    batch.effects.append(("LESC", "d"))
    batch.drop(4)
    assert batch.of("LESC") is lesc and list(lesc) == ["a", "b", "c"]
    # Dropping what was read gives a new one, without what was dropped.
    batch.drop(3)
    after_drop = batch.of("LESC")
    assert after_drop is not lesc and list(after_drop) == ["a", "b"]
    batch.clear()
    cleared = batch.of("LESC")
    assert cleared is not after_drop and list(cleared) == [] and batch.effects == []
    assert list(batch.of("NOBODY")) == []


class CountedList(list[object]):
    """A list that counts the items its slices hand out."""

    handed_out = 0

    @overload
    def __getitem__(self, index: SupportsIndex) -> object: ...
    @overload
    def __getitem__(self, index: slice) -> list[object]: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        got: Any = super().__getitem__(index)
        if isinstance(index, slice):
            self.handed_out += len(got)
        return got


@pytest.fixture
def casebook(tmp_path: Path) -> Iterator[tuple[Casebook, CountedList]]:
    """A casebook on an empty LESC database, and the effects it is told are uncommitted."""
    db = sqlite3.connect(tmp_path / "lesc.sqlite3")
    db.executescript(SCHEMA)
    uncommitted = CountedList()
    book = Casebook(
        db,
        clock=ManualClock(AT),
        margins={"U": timedelta(minutes=2), "R": timedelta(minutes=10)},
        technician_delay=lambda: None,
        nics_ori=None,
        log=None,
        uncommitted=lambda: uncommitted,
    )
    yield book, uncommitted
    db.close()


def test_the_casebook_reads_each_uncommitted_effect_once(
    casebook: tuple[Casebook, CountedList],
) -> None:
    book, uncommitted = casebook
    for n in range(200):
        arn = f"{n:09d}"
        # Each input looks its A-number up, then adds a query and a detainer for it.
        assert not book.detainer_in_place("CA0000000", arn)
        uncommitted.append(QueryServed(n, "IAQ", "CUS", "CA", "CA0000000", AT))
        uncommitted.append(DetainerLodged(n, "CA", "CA0000000", arn, None, "ICE0000", AT))
        assert book.detainer_in_place("CA0000000", arn)
        assert not book.detainer_in_place("TX0000000", arn)
    # Read from the start for every look-up, the 600 look-ups would have read 120,200.
    assert uncommitted.handed_out == 400


def test_the_casebook_finds_a_case_opened_earlier_in_the_batch(
    casebook: tuple[Casebook, CountedList],
) -> None:
    book, uncommitted = casebook
    assert book.find_case("CA0000000", "E123456789", "OCA1") is None
    first = Case(1, HIT, OPEN, "CA", "CA0000000", AT, None, {}, nic="E123456789", oca="OCA1")
    uncommitted.append(CaseOpened(first, AT))
    assert book.find_case("CA0000000", "E123456789", "OCA1") == first
    # A later case for the same request is the one found.
    second = Case(2, HIT, OPEN, "CA", "CA0000000", AT, None, {}, nic="E123456789", oca="OCA1")
    uncommitted.append(CaseOpened(second, AT))
    assert book.find_case("CA0000000", "E123456789", "OCA1") == second
    assert book.find_case("CA0000000", "E123456789", "OCA2") is None
    # A PENDING renews its own case's promise; one for the case replaced changes nothing.
    deadline = AT + timedelta(minutes=10)
    uncommitted.append(CasePending(first, AT, AT + timedelta(hours=1), "C", "R", 2))
    uncommitted.append(CasePending(second, AT, deadline, "C", "U", 2))
    found = book.find_case("CA0000000", "E123456789", "OCA1")
    assert found is not None and found.id == 2
    assert (found.deadline, found.pri, found.rno, found.pendings) == (deadline, "U", 2, 1)
