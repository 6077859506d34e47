"""Identifiers and draws the emulated indices derive from an A-number, with no table of their own.

Every index but the central one holds people of the central index: whether a person is in it,
and what it holds about them, is drawn from a hash of the A-number, so the answer is the same
in every run and costs nothing at start. The numbers an officer may query by (FBI number, SID)
encode the A-number through a fixed permutation, so a search by them finds the record again
without a second index; a check character makes a number typed at random rarely decode.
"""

import hashlib
import re
import string
import struct
from typing import Final

_ARNS: Final = 10**9
# (A * arn + B) mod 10^9 is a permutation of the 9-digit numbers: A is coprime with 10.
_A: Final = 387_420_489
_B: Final = 271_828_182
_A_INVERSE: Final = pow(_A, -1, _ARNS)
_FBI_RE: Final = re.compile(r"([0-9]{6})([A-X][A-Z])([0-9])")
_BASE36: Final = string.digits + string.ascii_uppercase
_SID_RE: Final = re.compile(r"([A-Z]{2})([0-9A-Z]{8})")
_CHECKS: Final = 6
# A 16-byte digest as four big-endian 32-bit numbers, in one call.
_FOUR_WORDS: Final = struct.Struct(">4I").unpack
_SCALE: Final = 1 / 2**32
# A hash already fed "salt:" for each salt (the names of the indices that draw: a handful),
# copied for each A-number: a copy costs a fraction of making a new hash.
_SALTED: dict[str, hashlib.blake2b] = {}


def uniforms(salt: str, arn: str) -> tuple[float, float, float, float]:
    """Four numbers in [0, 1) drawn from the A-number: the same every time, one set per salt."""
    salted = _SALTED.get(salt)
    if salted is None:
        salted = _SALTED[salt] = hashlib.blake2b(f"{salt}:".encode(), digest_size=16)
    hashed = salted.copy()
    hashed.update(arn.encode())
    first, second, third, fourth = _FOUR_WORDS(hashed.digest())
    return first * _SCALE, second * _SCALE, third * _SCALE, fourth * _SCALE


def _scrambled(arn: str) -> int:
    return (_A * int(arn) + _B) % _ARNS


# The texts below are padded by str().zfill, not a format spec (09d), which costs about twice
# as much: an IAQ with records derives several of them.
def _unscrambled(number: int) -> str:
    return str((_A_INVERSE * (number - _B)) % _ARNS).zfill(9)


def _check(number: int) -> int:
    # The digit sum: the digits' code points less 48 ("0") each, summed in one call.
    digits = str(number).encode()
    return (sum(digits) - 48 * len(digits)) % _CHECKS


def fbi_number(arn: str) -> str:
    """The FBI number (UCN) of the person with this A-number: 6 digits, 2 letters, 1 digit."""
    number = _scrambled(arn)
    # The two letters hold the top two digits (0-99) and the check (0-5): at most 599.
    letters = number // 10**7 + 100 * _check(number)
    low = str(number % 10**7).zfill(7)
    return f"{low[:6]}{_BASE36[10 + letters // 26]}{_BASE36[10 + letters % 26]}{low[6]}"


def arn_of_fbi(fbi: str) -> str | None:
    """The A-number an FBI number from :func:`fbi_number` encodes, or None for any other."""
    match = _FBI_RE.fullmatch(fbi)
    if match is None:
        return None
    digits, letters, last = match.groups()
    value = (ord(letters[0]) - 65) * 26 + ord(letters[1]) - 65
    top, check = value % 100, value // 100
    number = top * 10**7 + int(digits + last)
    if check != _check(number):
        return None
    return _unscrambled(number)


def sid_number(arn: str, state: str) -> str:
    """The state identification number a state repository gives this person: state + 8."""
    number = _scrambled(arn)
    value = number * _CHECKS + _check(number)
    chars = []
    for _ in range(8):
        value, digit = divmod(value, 36)
        chars.append(_BASE36[digit])
    return state + "".join(reversed(chars))


def arn_of_sid(sid: str) -> tuple[str, str] | None:
    """The (A-number, state) a SID from :func:`sid_number` encodes, or None for any other."""
    match = _SID_RE.fullmatch(sid)
    if match is None:
        return None
    state, code = match.groups()
    number, check = divmod(int(code, 36), _CHECKS)
    if number >= _ARNS or check != _check(number):
        return None
    return _unscrambled(number), state


def sevis_id(arn: str) -> str:
    """The SEVIS ID of a student or exchange visitor: N and 10 digits."""
    return "N" + str(_scrambled(arn) + 10**9 * (int(arn) % 10)).zfill(10)


def fin(arn: str) -> str:
    """The fingerprint identification number (FIN) IDENT and NSEERS file a person under."""
    return str((_scrambled(arn) * 7 + 1_000_000_003) % 10**10).zfill(10)
