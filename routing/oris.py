"""ORI registry (SPEC.md §1, §5) and the deterministic synthetic default registry."""

import random
import re
from bisect import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Final, Generic, TypeVar

from routing.lines import default_ice_office_ori
from routing.services import SWITCH_ORI

ORI_RE: Final = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}$")
LINE_CODE_RE: Final = re.compile(r"^[A-Z]{2}$")
# The FBI CJIS Division (Clarksburg, WV): the sender of biometric IAQs, the ORI fingerprint
# submissions address IAFIS/NGI by (docs/lesc.md, "Biometric IAQs").
FBI_CJIS_ORI: Final = "WVIAFIS0Z"


@dataclass(frozen=True, slots=True)
class Ori:
    """A registered originating agency: its ORI, the line that owns it, its name, and whether
    it may receive criminal history (IAQ, QW, YQ)."""

    ori: str
    line: str
    agency: str
    chri: bool = True


class OriRegistry:
    """Every known ORI, by ORI and by line."""

    def __init__(self, oris: Iterable[Ori]) -> None:
        self._oris: dict[str, Ori] = {}
        by_line: dict[str, list[Ori]] = {}
        for entry in oris:
            if entry.ori in self._oris:
                raise ValueError(f"ORI {entry.ori} listed twice")
            self._oris[entry.ori] = entry
            by_line.setdefault(entry.line, []).append(entry)
        self._by_line = {code: tuple(entries) for code, entries in by_line.items()}

    def get(self, ori: str) -> Ori | None:
        """The registered ORI, or None."""
        return self._oris.get(ori)

    def by_line(self, code: str) -> tuple[Ori, ...]:
        """The ORIs owned by a line, in registry order."""
        return self._by_line.get(code, ())

    def __contains__(self, ori: object) -> bool:
        return ori in self._oris

    def __iter__(self) -> Iterator[Ori]:
        return iter(self._oris.values())

    def __len__(self) -> int:
        return len(self._oris)


# Rough populations in thousands (2020 census; Canada stands for the few Canadian agencies
# that query through the Canadian line). Only the proportions matter.
_POPULATION: Final[dict[str, int]] = {
    "AK": 733, "AL": 5024, "AR": 3011, "AZ": 7151, "CA": 39538, "CO": 5773, "CT": 3605,
    "DC": 689, "DE": 989, "FL": 21538, "GA": 10711, "GU": 154, "HI": 1455, "IA": 3190,
    "ID": 1839, "IL": 12812, "IN": 6785, "KS": 2937, "KY": 4505, "LA": 4657, "MA": 7029,
    "MD": 6177, "ME": 1362, "MI": 10077, "MN": 5706, "MO": 6154, "MS": 2961, "MT": 1084,
    "NC": 10439, "ND": 779, "NE": 1961, "NH": 1377, "NJ": 9288, "NM": 2117, "NV": 3104,
    "NY": 20201, "OH": 11799, "OK": 3959, "OR": 4237, "PA": 13002, "PR": 3285, "RI": 1097,
    "SC": 5118, "SD": 886, "TN": 6910, "TX": 29145, "UT": 3271, "VA": 8631, "VT": 643,
    "WA": 7705, "WI": 5893, "WV": 1793, "WY": 576, "CN": 2000,
}  # fmt: skip
_DEFAULT_POPULATION: Final = 500
MIN_PER_LINE: Final = 20

# Agency kinds by agency number; 01 is always the county sheriff, as in many real ORIs.
_CITY_PD: Final = "CITY {n} POLICE DEPT"
_AGENCY_KINDS: Final[tuple[tuple[str, int], ...]] = (
    (_CITY_PD, 50),
    ("TOWN {n} POLICE DEPT", 12),
    ("COUNTY {c} DISTRICT ATTORNEY", 6),
    ("COUNTY {c} PROBATION DEPT", 6),
    ("COUNTY {c} JAIL", 5),
    ("COUNTY {c} CIRCUIT COURT", 5),
    ("UNIVERSITY {n} POLICE DEPT", 4),
    ("STATE PATROL POST {n}", 4),
    ("COUNTY {c} MARSHAL", 3),
    ("PORT AUTHORITY {n} POLICE", 2),
    ("TRIBAL {n} POLICE DEPT", 2),
    ("COUNTY {c} DRUG TASK FORCE", 1),
)
_KIND_NAMES: Final = tuple(name for name, _ in _AGENCY_KINDS)
_KIND_WEIGHTS: Final = tuple(weight for _, weight in _AGENCY_KINDS)
# Suffixes beyond "00" mark sub-units of an agency (a jail, a records unit, a substation).
_SUFFIXES: Final[tuple[tuple[str, str], ...]] = (
    ("00", ""),
    ("0J", " JAIL"),
    ("0R", " RECORDS"),
    ("01", " SUBSTATION 1"),
    ("02", " SUBSTATION 2"),
)
_SUFFIX_WEIGHTS: Final = (85, 4, 5, 4, 2)


_T = TypeVar("_T")


class _Draw(Generic[_T]):
    """``rng.choices(items, weights)[0]`` with the cumulative weights summed once: the same
    draw from the same stream (one ``random()``), without summing the weights per ORI."""

    __slots__ = ("_cum", "_hi", "_items", "_total")

    def __init__(self, items: Sequence[_T], weights: Sequence[int]) -> None:
        self._items = tuple(items)
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1] + 0.0
        self._hi = len(self._cum) - 1

    def __call__(self, rng: random.Random) -> _T:
        """One item, drawn as random.Random.choices draws it."""
        return self._items[bisect(self._cum, rng.random() * self._total, 0, self._hi)]


_SUFFIX_DRAW: Final = _Draw(_SUFFIXES, _SUFFIX_WEIGHTS)
_KIND_DRAW: Final = _Draw(_KIND_NAMES, _KIND_WEIGHTS)


def _allocate(line_codes: Sequence[str], total: int) -> list[int]:
    """ORIs per line: MIN_PER_LINE each, the rest by population (largest remainder)."""
    spare = max(0, total - MIN_PER_LINE * len(line_codes))
    weights = [_POPULATION.get(code, _DEFAULT_POPULATION) for code in line_codes]
    weight_sum = sum(weights)
    shares = [spare * weight // weight_sum for weight in weights]
    # Hand the units lost to rounding to the largest remainders; ties go to the earlier line.
    by_remainder = sorted(
        range(len(line_codes)), key=lambda i: (-(spare * weights[i] % weight_sum), i)
    )
    for i in by_remainder[: spare - sum(shares)]:
        shares[i] += 1
    return [MIN_PER_LINE + share for share in shares]


def _agency_oris(code: str, count: int, rng: random.Random) -> list[Ori]:
    """``count`` distinct agency ORIs for one line: ``<LINE><county><agency><suffix>``."""
    counties = max(3, min(254, count // 10))
    if count > counties * 99 * len(_SUFFIXES):
        raise ValueError(f"{count} ORIs do not fit line {code}")
    # Counties start at 001 and the suffixes are digits or one letter after "0", so neither
    # the control ORI (county 000), the ICE ORI nor a service ORI can be drawn here.
    agencies: dict[tuple[int, int], str] = {}
    names: set[str] = set()
    found: dict[str, Ori] = {}
    while len(found) < count:
        county = rng.randint(1, counties)
        agency = rng.randint(1, 99)
        suffix, unit = _SUFFIX_DRAW(rng)
        ori = f"{code}{county:03d}{agency:02d}{suffix}"
        if ori in found:
            continue
        # One name per county/agency number, so an agency's sub-units carry its name.
        name = agencies.get((county, agency))
        if name is None:
            if agency == 1:
                name = f"COUNTY {county:03d} SHERIFF OFFICE"
            else:
                kind = _KIND_DRAW(rng)
                name = kind.format(c=f"{county:03d}", n=f"{county:03d}{agency:02d}")
                # A county has one court, jail, DA ...: a second draw becomes a city PD.
                if name in names:
                    name = _CITY_PD.format(n=f"{county:03d}{agency:02d}")
            agencies[county, agency] = name
            names.add(name)
        found[ori] = Ori(ori, code, name + unit)
    return list(found.values())


def synthetic_oris(line_codes: Sequence[str], total: int = 12_000, seed: int = 0) -> list[Ori]:
    """A deterministic registry of about ``total`` ORIs over the lines, sorted by ORI.

    Every line gets its state control ORI ``<LINE>0000000``, its ICE field office ORI
    ``<LINE>ICE0000`` and agency ORIs, at least MIN_PER_LINE ORIs in all, the rest in
    proportion to population; line WV also the FBI CJIS Division (:data:`FBI_CJIS_ORI`).
    """
    if len(set(line_codes)) != len(line_codes):
        raise ValueError("line codes repeat")
    for code in line_codes:
        if not LINE_CODE_RE.fullmatch(code):
            raise ValueError(f"{code!r} is not a two-letter line code")
    if not line_codes:
        return []
    rng = random.Random(seed)
    oris: list[Ori] = []
    for code, count in zip(line_codes, _allocate(line_codes, total), strict=True):
        fixed = [
            Ori(f"{code}0000000", code, "STATE CONTROL TERMINAL"),
            Ori(default_ice_office_ori(code), code, "ICE FIELD OFFICE"),
        ]
        if code == FBI_CJIS_ORI[:2]:
            fixed.append(Ori(FBI_CJIS_ORI, code, "FBI CJIS DIVISION"))
        # A line code like NL would make its control ORI the switch's: leave that one out.
        fixed = [entry for entry in fixed if entry.ori != SWITCH_ORI]
        oris.extend(fixed)
        oris.extend(_agency_oris(code, count - len(fixed), rng))
    return sorted(oris, key=lambda entry: entry.ori)
