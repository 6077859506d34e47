"""Line registry: lookups, notice ORI defaults, key hashing and the development registry.

Reading the registry's CSV file is tested in tests/test_datafiles.py.
"""

import pytest

from routing.lines import (
    LINE_CODES,
    Line,
    LineRegistry,
    default_control_ori,
    default_ice_office_ori,
    dev_key,
    hash_key,
    is_plain_key,
    is_well_formed_key,
    verify_key,
)

FAST = 1_000  # iterations for tests that do not care about the production cost


def test_line_codes_are_the_54_lines_sorted() -> None:
    assert len(LINE_CODES) == 54
    assert list(LINE_CODES) == sorted(set(LINE_CODES))
    assert {"DC", "PR", "GU", "CN", "CA", "TX", "VT", "WY"} <= set(LINE_CODES)
    assert all(len(code) == 2 and code.isalpha() and code.isupper() for code in LINE_CODES)


def test_registry_lookups_keep_the_given_order() -> None:
    tx = Line("TX", "secret", "TXICE0000", "TX0000000")
    ca = Line("CA", "secret", "AZICE0000", "CA0000001")
    registry = LineRegistry([tx, ca])
    assert registry.get("TX") == tx and registry.get("CA") == ca
    assert registry.get("NY") is None
    assert registry.codes == ("TX", "CA")
    assert "TX" in registry and "NY" not in registry
    assert len(registry) == 2
    assert list(registry) == [tx, ca]


def test_default_notice_oris() -> None:
    assert (default_ice_office_ori("TX"), default_control_ori("TX")) == ("TXICE0000", "TX0000000")


@pytest.mark.parametrize(
    ("stored", "good"),
    [
        ("secret", True),
        ("pbkdf2_sha256$1000$00$00", True),
        ("", False),
        ("pbkdf2_sha256$abc$00$00", False),
        ("pbkdf2_sha256$1000$zz$00", False),
        ("pbkdf2_sha256$1000$00", False),
    ],
)
def test_well_formed_key(stored: str, good: bool) -> None:
    assert is_well_formed_key(stored) is good


def test_registry_rejects_repeated_line() -> None:
    line = Line("TX", "k", "TXICE0000", "TX0000000")
    with pytest.raises(ValueError, match="TX"):
        LineRegistry([line, line])


def test_hash_key_format_and_verify() -> None:
    stored = hash_key("DEV-TX", b"\x01\x02", FAST)
    scheme, iterations, salt, digest = stored.split("$")
    assert (scheme, iterations, salt) == ("pbkdf2_sha256", "1000", "0102")
    assert len(digest) == 64
    assert stored == hash_key("DEV-TX", b"\x01\x02", FAST)
    assert stored != hash_key("DEV-TX", b"\x01\x03", FAST)
    assert not is_plain_key(stored)
    assert verify_key("DEV-TX", stored)
    assert not verify_key("DEV-TY", stored)
    assert not verify_key("", stored)


def test_hash_key_default_iterations() -> None:
    stored = hash_key("k", b"salt")
    assert stored.startswith("pbkdf2_sha256$100000$73616c74$")
    assert verify_key("k", stored)


def test_hash_key_rejects_empty_salt_and_zero_iterations() -> None:
    with pytest.raises(ValueError, match="salt"):
        hash_key("k", b"")
    with pytest.raises(ValueError, match="iterations"):
        hash_key("k", b"s", 0)


def test_plain_key_compares_plainly() -> None:
    assert is_plain_key("DEV-TX")
    assert verify_key("DEV-TX", "DEV-TX")
    assert not verify_key("DEV-TX ", "DEV-TX")
    assert not verify_key("dev-tx", "DEV-TX")
    assert verify_key("KÉY", "KÉY")


@pytest.mark.parametrize(
    "stored",
    [
        "pbkdf2_sha256$",
        "pbkdf2_sha256$0$00$00",
        "pbkdf2_sha256$\u00b2$00$00",
        "pbkdf2_sha256$10$$00",
        "pbkdf2_sha256$10$00$",
        "pbkdf2_sha256$10$0$00",
        "pbkdf2_sha256$10$00$00$00",
    ],
)
def test_malformed_hash_never_verifies(stored: str) -> None:
    assert not is_plain_key(stored)
    assert not verify_key(stored, stored)
    assert not verify_key("", stored)


def test_dev_key() -> None:
    assert dev_key("CA") == "DEV-CA"
