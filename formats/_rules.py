"""Field rules shared by the IAQ, YQ and QW validators."""

import re
from collections.abc import Iterable, Mapping, Set
from string import ascii_uppercase

from formats.errors import ErrorCode, MessageError

SEX_CODES = frozenset({"M", "F", "U"})
# Every AA-ZZ: a set lookup is the quickest shape test for the many 2-letter fields.
TWO_LETTERS = frozenset(a + b for a in ascii_uppercase for b in ascii_uppercase)
NAME_MAX = 30

_WORD = r"[A-Z]+(?:['-][A-Z]+)*"
_NAME = re.compile(rf"({_WORD}(?: +{_WORD})*) *, *({_WORD})(?: +({_WORD}(?: +{_WORD})*))?")
_PHONE = re.compile("-*[0-9][0-9-]*")


def field_error(tag: str, rule: str, code: ErrorCode = ErrorCode.FIELD) -> MessageError:
    """``TAG/ RULE`` as a MessageError naming the field."""
    return MessageError(code, f"{tag}/ {rule}", tag)


def check_tags(fields: Mapping[str, str], allowed: Set[str], mke: str) -> None:
    """Reject the first tag the message key does not take (.22.)."""
    for tag in fields:
        if tag not in allowed:
            raise MessageError(ErrorCode.FIELD, f"FIELD {tag}/ NOT ALLOWED IN {mke}", tag)


def check_present(fields: Mapping[str, str], required: Iterable[str]) -> None:
    """Reject the first absent field, in the order given (.14., or .05. for DOB)."""
    for tag in required:
        if tag not in fields:
            code = ErrorCode.DOB if tag == "DOB" else ErrorCode.MISSING
            raise MessageError(code, f"FIELD {tag}/ MISSING", tag)


def check_text(value: str, tag: str, maximum: int, code: ErrorCode = ErrorCode.FIELD) -> str:
    """A free-text field: not empty and at most ``maximum`` characters."""
    if not value or value.isspace():
        raise field_error(tag, "EMPTY", code)
    if len(value) > maximum:
        raise field_error(tag, f"LONGER THAN {maximum}", code)
    return value


def check_pattern(value: str, tag: str, pattern: re.Pattern[str], rule: str) -> str:
    """A field whose whole value must match ``pattern``."""
    if pattern.fullmatch(value) is None:
        raise field_error(tag, rule)
    return value


def check_choice(value: str, tag: str, choices: Set[str], rule: str) -> str:
    """A field that takes one of a few codes."""
    if value not in choices:
        raise field_error(tag, rule)
    return value


def check_phone(value: str, tag: str) -> str:
    """At most 20 digits and dashes, at least one digit."""
    if len(value) > 20 or _PHONE.fullmatch(value) is None:
        raise field_error(tag, "MUST BE UP TO 20 DIGITS AND DASHES")
    return value


def parse_name(value: str) -> tuple[str, str, str]:
    """Split NAM/ ``LAST, FIRST MIDDLE`` (at most 30 characters); middle may be ""."""
    if len(value) > NAME_MAX:
        raise field_error("NAM", f"LONGER THAN {NAME_MAX}")
    # The usual name, LAST, FIRST and at most one MIDDLE of plain letters, split without the
    # general pattern (a third of the time); the pattern takes it the same way.
    last, _, rest = value.partition(", ")
    first, space, middle = rest.partition(" ")
    if (
        value.isascii()
        and last.isalpha()
        and last.isupper()
        and first.isalpha()
        and first.isupper()
        and (not space or (middle.isalpha() and middle.isupper()))
    ):
        return last, first, middle
    match = _NAME.fullmatch(value)
    if match is None:
        raise field_error("NAM", "MUST BE LAST, FIRST MIDDLE IN LETTERS")
    last, first, middle = match.groups("")
    return last, first, middle
