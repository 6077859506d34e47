"""ORI registry: lookups and the deterministic synthetic registry.

Reading the registry's CSV file is tested in tests/test_datafiles.py.
"""

import hashlib
from collections import Counter

import pytest

from routing.lines import LINE_CODES
from routing.oris import ORI_RE, Ori, OriRegistry, synthetic_oris
from routing.services import SWITCH_ORI


def test_ori_shape() -> None:
    for good in ("CA0194200", "TXICE0000", "VTINS07S0", "NY030015J"):
        assert ORI_RE.match(good)
    for bad in ("CA019420", "CA01942000", "1A0194200", "ca0194200", "CA01942-0", ""):
        assert not ORI_RE.match(bad)


def test_registry_lookups() -> None:
    austin = Ori("TX2270100", "TX", "AUSTIN PD")
    control = Ori("TX0000000", "TX", "STATE CONTROL")
    lasd = Ori("CA0194200", "CA", "LASD")
    registry = OriRegistry([austin, control, lasd])
    assert len(registry) == 3
    assert registry.get("TX2270100") == austin
    assert registry.get("TX9999999") is None
    assert "CA0194200" in registry and "CA0194201" not in registry
    assert registry.by_line("TX") == (austin, control)
    assert registry.by_line("NY") == ()
    assert list(registry) == [austin, control, lasd]


def test_registry_rejects_repeated_ori() -> None:
    entry = Ori("TX2270100", "TX", "AUSTIN PD")
    with pytest.raises(ValueError, match="TX2270100"):
        OriRegistry([entry, entry])


def test_synthetic_is_deterministic() -> None:
    assert synthetic_oris(LINE_CODES) == synthetic_oris(LINE_CODES, 12_000, 0)
    assert synthetic_oris(LINE_CODES, seed=1) != synthetic_oris(LINE_CODES, seed=2)


def test_synthetic_default_registry() -> None:
    oris = synthetic_oris(LINE_CODES)
    assert len(oris) == 12_000
    assert [entry.ori for entry in oris] == sorted({entry.ori for entry in oris})
    assert all(ORI_RE.fullmatch(entry.ori) and entry.line == entry.ori[:2] for entry in oris)
    assert all(entry.agency for entry in oris)
    assert SWITCH_ORI not in {entry.ori for entry in oris}
    per_line = Counter(entry.line for entry in oris)
    assert set(per_line) == set(LINE_CODES)
    assert min(per_line.values()) >= 20
    # Weighted by population: the biggest states carry the most agencies.
    assert per_line["CA"] > per_line["TX"] > per_line["OH"] > per_line["WY"]
    registry = OriRegistry(oris)
    for code in LINE_CODES:
        assert registry.get(f"{code}0000000") == Ori(
            f"{code}0000000", code, "STATE CONTROL TERMINAL"
        )
        assert registry.get(f"{code}ICE0000") == Ori(f"{code}ICE0000", code, "ICE FIELD OFFICE")
    sheriffs = [entry for entry in oris if entry.agency.endswith("SHERIFF OFFICE")]
    assert sheriffs and all(entry.ori[5:7] == "01" for entry in sheriffs)


def test_synthetic_small_total_still_gives_every_line_twenty() -> None:
    oris = synthetic_oris(["CA", "WY", "ZZ"], total=10)
    assert Counter(entry.line for entry in oris) == {"CA": 20, "WY": 20, "ZZ": 20}


def test_synthetic_spreads_the_total_exactly() -> None:
    oris = synthetic_oris(["CA", "WY", "ZZ"], total=1_001, seed=3)
    per_line = Counter(entry.line for entry in oris)
    assert sum(per_line.values()) == 1_001
    assert per_line["CA"] > per_line["WY"] >= per_line["ZZ"] >= 20


def test_synthetic_leaves_out_a_control_ori_that_is_a_service_ori() -> None:
    oris = synthetic_oris(["NL"], total=20)
    assert len(oris) == 20
    assert "NL0000000" not in {entry.ori for entry in oris}
    assert "NLICE0000" in {entry.ori for entry in oris}


def test_synthetic_without_lines_is_empty() -> None:
    assert synthetic_oris([]) == []


@pytest.mark.parametrize("codes", [["CA", "CA"], ["C"], ["ca"], ["C1"], ["CA\n"]])
def test_synthetic_rejects_bad_line_codes(codes: list[str]) -> None:
    with pytest.raises(ValueError, match="line code"):
        synthetic_oris(codes)


def test_synthetic_rejects_a_total_that_cannot_fit() -> None:
    with pytest.raises(ValueError, match="do not fit line WY"):
        synthetic_oris(["WY"], total=200_000)


def test_the_synthetic_registry_is_the_one_every_earlier_version_drew() -> None:
    # Digests of the registries as random.Random.choices drew them (before issue 13 round 2
    # drew the same stream with the weights summed once): journals and recorded traffic name
    # these ORIs.
    def digest(oris: list[Ori]) -> str:
        return hashlib.sha256(repr(oris).encode()).hexdigest()

    assert digest(synthetic_oris(LINE_CODES)) == (
        "500f1d42f11d0e65b2d3c00f77431152b54b9eca78c089b053a1b5d31429bb3e"
    )
    assert digest(synthetic_oris(LINE_CODES, seed=7)) == (
        "8e6f5c05f4771e3b0bbb46b37a4c54c16d58aa7f8c29accf03621d8fa5b3b0db"
    )
    assert digest(synthetic_oris(["CA", "TX"], 500, 3)) == (
        "bcb2e4581b59d3920dad1c8ca57c19f601f6be6c97d65189e7bd3c75ad03c50f"
    )
