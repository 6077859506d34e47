"""Line registry (SPEC.md §1, §5): connected state switches, their keys and notice ORIs."""

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from routing._rows import cell, numbered, row_error
from routing.oris import LINE_CODE_RE, ORI_RE
from routing.services import SERVICE_ORIS

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


@dataclass(frozen=True, slots=True)
class Line:
    """One connected state switch: its code, key hash and the ORIs it gets notices for."""

    code: str
    key_hash: str
    ice_office_ori: str
    control_ori: str


class LineRegistry:
    """The lines allowed to sign on, by line code."""

    def __init__(self, lines: Iterable[Line]) -> None:
        self._lines: dict[str, Line] = {}
        for line in lines:
            if line.code in self._lines:
                raise ValueError(f"line {line.code} listed twice")
            self._lines[line.code] = line

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, str]]) -> "LineRegistry":
        """Build from CSV rows ``line,key,ice_office_ori,control_ori`` (header = row 1).

        An empty ``ice_office_ori`` defaults to ``<LINE>ICE0000``, an empty ``control_ori``
        to ``<LINE>0000000``. Raises ValueError naming the row and column of bad data.
        """
        lines: list[Line] = []
        seen: set[str] = set()
        for number, row in numbered(rows):
            code = cell(row, number, "line")
            if not LINE_CODE_RE.fullmatch(code):
                raise row_error(number, "line", f"{code!r} is not a two-letter line code")
            if code in seen:
                raise row_error(number, "line", f"line {code} listed twice")
            seen.add(code)
            key = cell(row, number, "key")
            if not is_plain_key(key) and _parse_hash(key) is None:
                raise row_error(number, "key", f"malformed {HASH_SCHEME} hash")
            ice = cell(row, number, "ice_office_ori", required=False) or f"{code}ICE0000"
            # The ICE field office may sit on another line (one office covers several
            # states), so only its shape is checked; the state control ORI is the line's own.
            _check_ori(number, "ice_office_ori", ice)
            control = cell(row, number, "control_ori", required=False) or f"{code}0000000"
            _check_ori(number, "control_ori", control)
            if control[:2] != code:
                raise row_error(number, "control_ori", f"{control} is not on line {code}")
            lines.append(Line(code, key, ice, control))
        return cls(lines)

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


def _check_ori(number: int, column: str, ori: str) -> None:
    if not ORI_RE.fullmatch(ori):
        raise row_error(number, column, f"{ori!r} is not a 9-character ORI")
    if ori in SERVICE_ORIS:
        raise row_error(number, column, f"{ori} is a service ORI")


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


def dev_key(code: str) -> str:
    """The development key the shipped registry gives a line."""
    return f"DEV-{code}"


def default_line_rows(salt_for: Callable[[str], bytes]) -> list[dict[str, str]]:
    """Rows of the shipped development line registry: every line with key ``DEV-<LINE>``."""
    return [
        {
            "line": code,
            "key": hash_key(dev_key(code), salt_for(code)),
            "ice_office_ori": f"{code}ICE0000",
            "control_ori": f"{code}0000000",
        }
        for code in LINE_CODES
    ]
