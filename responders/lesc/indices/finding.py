"""What one index search found, and the IAR's ``IDX/`` listing of every index searched."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Final

from responders.base import Exchange

HIT: Final = "HIT"
NO_RECORD: Final = "NRF"
# An index name as the listing writes it: letters and digits (CIS, NCIC, III, SEVIS ...).
_NAME_RE: Final = re.compile(r"[A-Z][A-Z0-9]{0,11}")
_ENTRY_RE: Final = re.compile(r"([A-Z][A-Z0-9]{0,11}) (HIT|NRF)")
_SEPARATOR: Final = ", "
# A finding's listing entry, read in C by map (no comprehension's function made per IAQ).
_ENTRY: Final = attrgetter("entry")
# The entries ("CIS NRF", "CIS HIT") of the names already found good, by name, indexed by hit:
# every IAQ lists the same few.
_entries: dict[str, tuple[str, str]] = {}


@dataclass(frozen=True, slots=True)
class IndexFinding:
    """The answer of one index to one IAQ, in search order in ``exchange.data["indices"]``.

    ``detail`` holds what the index found as (name, value) pairs; ``summary`` is the line a
    technician writes under the IAR's status summary ("" when there is nothing to say);
    ``repositories`` is how many state criminal-history repositories III queried (0 for
    every other index and for an III miss).
    """

    index: str
    hit: bool
    detail: tuple[tuple[str, str], ...] = ()
    summary: str = ""
    repositories: int = 0
    # Its entry in the listing ("CIS NRF"): the name checked and the text written once, as
    # the finding is made (most are each index's one MISS, made at import).
    entry: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry", _listing_entry(self.index, self.hit))


def listing_of(exchange: Exchange) -> str:
    """The ``IDX/`` value of the exchange's findings, once every index has been searched.

    Formatted once per IAQ: the IAR and the yearly figures both carry it.
    """
    listing: str | None = exchange.data.get("listing")
    if listing is None:
        listing = exchange.data["listing"] = format_listing(exchange.data.get("indices", ()))
    return listing


def format_listing(findings: Iterable[IndexFinding]) -> str:
    """The ``IDX/`` value: each index searched, in order, with HIT or NRF."""
    return _SEPARATOR.join(map(_ENTRY, findings))


def _listing_entry(name: str, hit: bool) -> str:
    """An index's entry in the ``IDX/`` value; ValueError for a name the listing could not
    read back."""
    pair = _entries.get(name)
    if pair is None:
        if _NAME_RE.fullmatch(name) is None:
            raise ValueError(f"{name!r} is not an index name: 1 to 12 capitals and digits")
        pair = _entries[name] = (f"{name} {NO_RECORD}", f"{name} {HIT}")
    return pair[hit]


def parse_listing(text: str) -> list[tuple[str, bool]]:
    """The (index, hit) pairs of an ``IDX/`` value; ValueError names the first bad entry.

    Stored in ``lesc_queries.indices`` too, so ``iaqgw stats`` reads what the IAR said.
    """
    pairs: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for entry in text.split(_SEPARATOR):
        match = _ENTRY_RE.fullmatch(entry)
        if match is None:
            raise ValueError(f"{entry!r} is not 'INDEX HIT' or 'INDEX NRF'")
        name = match.group(1)
        if name in seen:
            raise ValueError(f"index {name} listed twice")
        seen.add(name)
        pairs.append((name, match.group(2) == HIT))
    return pairs
