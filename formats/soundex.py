"""Soundex as NCIC uses it for name searches."""


def soundex(name: str) -> str:
    """Four-character Soundex code of a surname (letter + three digits)."""
    raise NotImplementedError
