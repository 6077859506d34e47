"""Line registry (SPEC.md §1, §5): connected state switches, their keys and notice ORIs.

The registry is built from validated values; reading and checking the operator's CSV file is
the gateway's job (gateway/rows.py).
"""

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

LINE_CODES: Final[tuple[str, ...]] = tuple(
    sorted(
        {
            # The 50 states.
            "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DE", "FL", "GA",
            "HI", "IA", "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MD",
            "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH",
            "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC",
            "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
            # District of Columbia, Puerto Rico, Guam, Canada.
            "DC", "PR", "GU", "CN",
        }
    )
)  # fmt: skip

HASH_SCHEME: Final = "pbkdf2_sha256"
DEFAULT_ITERATIONS: Final = 100_000
_HASH_PREFIX: Final = HASH_SCHEME + "$"
_HEX_RE: Final = re.compile(r"(?:[0-9a-f]{2})+")
# str.isdigit accepts digits int() rejects (superscripts), so the count has its own pattern.
_ITERATIONS_RE: Final = re.compile(r"[1-9][0-9]{0,8}")


# The message format a line receives its outputs in (SPEC.md §10); it may send either.
LineFormat = Literal["text", "xml"]
LINE_FORMATS: Final[tuple[LineFormat, ...]] = ("text", "xml")


@dataclass(frozen=True, slots=True)
class Line:
    """One connected state switch: its code, key hash, the ORIs it gets notices for, and the
    format its outputs are written in.

    ``ident_bureau_ori`` is the state identification bureau that gets a copy of the answers
    to biometric IAQs for the line's agencies; None: :func:`default_ident_bureau_ori`.
    """

    code: str
    key_hash: str
    ice_office_ori: str
    control_ori: str
    format: LineFormat = "text"
    ident_bureau_ori: str | None = None


class LineRegistry:
    """The lines allowed to sign on, by line code."""

    def __init__(self, lines: Iterable[Line]) -> None:
        self._lines: dict[str, Line] = {}
        for line in lines:
            if line.code in self._lines:
                raise ValueError(f"line {line.code} listed twice")
            self._lines[line.code] = line

    def get(self, code: str) -> Line | None:
        """The line with this code, or None."""
        return self._lines.get(code)

    @property
    def codes(self) -> tuple[str, ...]:
        """Line codes in registry order."""
        return tuple(self._lines)

    def __contains__(self, code: object) -> bool:
        return code in self._lines

    def __iter__(self) -> Iterator[Line]:
        return iter(self._lines.values())

    def __len__(self) -> int:
        return len(self._lines)


def hash_key(key: str, salt: bytes, iterations: int = DEFAULT_ITERATIONS) -> str:
    """Hash a line key as ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``."""
    if not salt:
        raise ValueError("salt must not be empty")
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    digest = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, iterations)
    return f"{HASH_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def _parse_hash(stored: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, digest) of a well-formed hash, else None."""
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != HASH_SCHEME:
        return None
    iterations, salt_hex, digest_hex = parts[1:]
    if not _ITERATIONS_RE.fullmatch(iterations):
        return None
    if not _HEX_RE.fullmatch(salt_hex) or not _HEX_RE.fullmatch(digest_hex):
        return None
    return int(iterations), bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)


def is_well_formed_key(stored: str) -> bool:
    """True for a plain key or a well-formed hash: what the registry's ``key`` column may hold."""
    return bool(stored) and (is_plain_key(stored) or _parse_hash(stored) is not None)


def is_plain_key(stored: str) -> bool:
    """True when the registry holds the key itself rather than its hash."""
    return not stored.startswith(_HASH_PREFIX)


def verify_key(key: str, stored: str) -> bool:
    """Check a presented key against the registry value (hash or plain), in constant time."""
    if is_plain_key(stored):
        return hmac.compare_digest(key.encode(), stored.encode())
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    iterations, salt, digest = parsed
    candidate = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, iterations, len(digest))
    return hmac.compare_digest(candidate, digest)


def default_ice_office_ori(code: str) -> str:
    """The ICE field office ORI a line gets notices for when the registry names none."""
    return f"{code}ICE0000"


def default_control_ori(code: str) -> str:
    """The state control terminal ORI of a line when the registry names none."""
    return f"{code}0000000"


def default_ident_bureau_ori(code: str) -> str:
    """The state identification bureau ORI of a line when the registry names none."""
    return f"{code}SIB0000"


def ident_bureau_ori(line: Line) -> str:
    """The state identification bureau ORI of a line: its registry column or the default."""
    return line.ident_bureau_ori or default_ident_bureau_ori(line.code)


def dev_key(code: str) -> str:
    """The development key the shipped registry gives a line."""
    return f"DEV-{code}"
