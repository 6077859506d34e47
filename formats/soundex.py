"""Soundex as NCIC uses it for name searches."""

import re
from functools import lru_cache

_NOT_LETTER = re.compile("[^A-Z]+")
# Vowels (and Y) become 0 so they separate equal codes; H and W are deleted so they do not.
_CODES = str.maketrans(
    "AEIOUYBFPVCGJKQSXZDTLMNR",
    "000000111122222222334556",
    "HW",
)
_REPEATS = re.compile(r"([0-9])\1+")
_NO_LETTERS = "Z000"


# Surnames repeat heavily in traffic; the cache keeps the regex work off the hot path.
@lru_cache(maxsize=8192)
def soundex(name: str) -> str:
    """Four-character Soundex code of a surname (letter + three digits).

    Characters other than A-Z are ignored (``O'BRIEN`` is ``OBRIEN``); a name without any
    letter gets ``Z000`` so that every name has a code.
    """
    letters = _NOT_LETTER.sub("", name.upper())
    if not letters:
        return _NO_LETTERS
    first = letters[0]
    codes = _REPEATS.sub(r"\1", letters.translate(_CODES))
    if first not in "HW":
        # The first letter stands for itself; its code only suppresses an equal neighbour.
        codes = codes[1:]
    return (first + codes.replace("0", "") + "000")[:4]
