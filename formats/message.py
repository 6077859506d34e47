"""Input message header and ``TAG/value.`` fields (SPEC.md §3)."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from formats.errors import ErrorCode, MessageError

MAX_DESTINATIONS = 5
YQ_MAX_DESTINATIONS = 3

# Header and fields may be broken over lines and padded with spaces anywhere between items.
_WHITESPACE = " \t\r\n"
# Possessive (*+): a run of blanks is never given back, which no item after one needs, and
# the regex engine keeps no state to give it back (a quarter of the header's match).
_SPACE = "[ \t\r\n]*+"
# An item of the header ends at a period, white space or the end of the text.
_END = "(?![^. \t\r\n])"
_NOT_BLANK = re.compile("[^ \t\r\n]")
_TOKEN_END = re.compile("[. \t\r\n]")
_MKE = re.compile("[A-Z]{2,3}")
_ORI = re.compile("[A-Z]{2}[A-Z0-9]{7}")
# Line codes (CA), ORIs (CA0000000) and service mnemonics (AX, AXADMHELP, NCIC) alike.
_DEST = re.compile("[A-Z0-9]{2,9}")
_CONTROL_MAX = 10
_CONTROL = re.compile(f"[A-Z0-9-]{{1,{_CONTROL_MAX}}}")
# The usual, valid header in one match; anything else takes the general parser, which also
# names the fault. Both must accept exactly the same texts.
_HEADER = re.compile(
    rf"{_SPACE}([A-Z]{{2,3}}){_SPACE}\.{_SPACE}([A-Z]{{2}}[A-Z0-9]{{7}})"
    rf"{_SPACE}\.{_SPACE}(?!TXT{_END})([A-Z0-9]{{2,9}}){_END}"
    rf"((?:{_SPACE}\.{_SPACE}(?!TXT{_END})[A-Z0-9]{{2,9}}{_END}){{0,{MAX_DESTINATIONS - 1}}})"
    rf"(?:{_SPACE}\.{_SPACE}\*([A-Z0-9-]{{1,{_CONTROL_MAX}}}){_END})?"
    rf"(?:{_SPACE}\.{_SPACE}|[ \t\r\n]+)TXT{_END}"
)
_DEST_NAME = re.compile("[A-Z0-9]+")

_TAG = re.compile("([A-Z0-9]{3})/")
# Fields with nothing unusual: one per line or run together, no blanks around a value, no
# slash in a value. Such a text splits on "/" and "." alone.
_PLAIN_FIELDS = re.compile(
    r"(?:[A-Z0-9]{3}/[^/. \t\r\n](?:[^/.\r\n]*[^/. \t\r\n])?\.)*[ \t\r\n]*"
)
_REMARK = "REM/"


# Not frozen, for the same reason as formats.iaq.IAQ: built once per input on the hot path.
@dataclass(slots=True)
class InputMessage:
    """A parsed input: header values, the text after ``TXT`` (``body``) and the original text."""

    mke: str
    sender: str
    dests: tuple[str, ...]
    control: str | None
    body: str
    text: str




def parse_input(text: str) -> InputMessage:
    """Parse the header ``MKE.SENDERORI.DEST[.DEST…][.*CONTROL].TXT``.

    Checks only the header: MKE shape (0), sender ORI shape (.01.), control field (.01.),
    1-5 destinations of a valid shape (.19.), TXT marker (.03.). Raises MessageError.
    """
    match = _HEADER.match(text)
    if match is None:
        return _parse_input_general(text)
    mke, sender, first, more, control = match.groups()
    # Most messages have a single destination: no second pass over the header for them.
    dests = (first, *_DEST_NAME.findall(more)) if more else (first,)
    if mke == "YQ" and len(dests) > YQ_MAX_DESTINATIONS:
        return _parse_input_general(text)
    return InputMessage(mke, sender, dests, control, text[match.end() :].strip(_WHITESPACE), text)


def _skip_space(text: str, pos: int) -> int:
    """Index of the first character at or after ``pos`` that is not white space."""
    found = _NOT_BLANK.search(text, pos)
    return len(text) if found is None else found.start()


def _token(text: str, pos: int) -> str:
    """The header item starting at ``pos`` (possibly empty)."""
    found = _TOKEN_END.search(text, pos)
    return text[pos:] if found is None else text[pos : found.start()]


def _parse_input_general(text: str) -> InputMessage:
    """Parse any header item by item and raise the ER that names its first fault."""
    pos = _skip_space(text, 0)
    mke = _token(text, pos)
    pos = _skip_space(text, pos + len(mke))
    if _MKE.fullmatch(mke) is None or not text.startswith(".", pos):
        raise MessageError(ErrorCode.FORMAT, "NO VALID HEADER", "MKE")
    items: list[str] = []
    while True:
        dotted = text.startswith(".", pos)
        if dotted:
            pos = _skip_space(text, pos + 1)
        item = _token(text, pos)
        pos += len(item)
        if item == "TXT":
            break
        # Without a period only TXT may follow (on the next line); a field means TXT is absent.
        if not dotted or "/" in item:
            raise MessageError(ErrorCode.TXT_NOT_FOUND, "TXT MISSING AFTER HEADER", "TXT")
        items.append(item)
        pos = _skip_space(text, pos)
    if not items:
        raise MessageError(ErrorCode.HEADER, "SENDER ORI MISSING", "ORI")
    sender, *dests = items
    if _ORI.fullmatch(sender) is None:
        raise MessageError(ErrorCode.HEADER, "SENDER ORI MUST BE 9 LETTERS OR DIGITS", "ORI")
    control = None
    if dests and dests[-1].startswith("*"):
        control = dests.pop()[1:]
        if len(control) > _CONTROL_MAX:
            raise MessageError(
                ErrorCode.HEADER, f"CONTROL FIELD LONGER THAN {_CONTROL_MAX}", "CONTROL"
            )
        if _CONTROL.fullmatch(control) is None:
            raise MessageError(
                ErrorCode.HEADER, "CONTROL FIELD MUST BE LETTERS, DIGITS OR -", "CONTROL"
            )
    if any(dest.startswith("*") for dest in dests):
        raise MessageError(ErrorCode.HEADER, "CONTROL FIELD MUST STAND LAST BEFORE TXT", "CONTROL")
    if not dests:
        raise MessageError(ErrorCode.DESTINATION, "NO DESTINATION", "DEST")
    limit = YQ_MAX_DESTINATIONS if mke == "YQ" else MAX_DESTINATIONS
    if len(dests) > limit:
        raise MessageError(ErrorCode.DESTINATION, f"MORE THAN {limit} DESTINATIONS", "DEST")
    for number, dest in enumerate(dests, 1):
        if _DEST.fullmatch(dest) is None:
            raise MessageError(ErrorCode.DESTINATION, f"DESTINATION {number} INVALID", "DEST")
    return InputMessage(
        mke, sender, tuple(dests), control, text[pos:].strip(_WHITESPACE), text
    )


def parse_fields(body: str) -> dict[str, str]:
    """Parse ``TAG/value.`` fields in order; REM/ last and may hold periods.

    Raises MessageError(.22.) for an empty field, a repeated tag or text that is not a field.
    """
    remark_at = body.find(_REMARK)
    head = body if remark_at < 0 else body[:remark_at]
    # A line break right after a period is the usual layout and means nothing.
    plain = head.replace(".\r\n", ".").replace(".\n", ".")
    if _PLAIN_FIELDS.fullmatch(plain) is None:
        # The general parser accepts every other valid layout and names the fault otherwise.
        return _parse_fields_general(body)
    parts = plain.replace("/", ".").split(".")
    parts.pop()  # the blanks after the last period
    pairs = iter(parts)
    # zip pairs the parts up. No strict=: a keyword argument takes zip's slow call path, 0.9 µs
    # here, and an odd count cannot occur (every period ends a TAG/value pair) but is caught
    # by the size test below anyway.
    fields = dict(zip(pairs, pairs))  # noqa: B905
    if 2 * len(fields) != len(parts):
        return _parse_fields_general(body)
    if remark_at >= 0:
        fields["REM"] = remark_value(body[remark_at + 4 :])
    return fields


def remark_value(text: str) -> str:
    """The value of REM/ from what follows the tag: the rest of the text without its closing
    period; raises MessageError(.22.) when nothing is left."""
    value = text.strip(_WHITESPACE)
    if value.endswith("."):
        value = value[:-1].rstrip(_WHITESPACE)
    if not value:
        raise MessageError(ErrorCode.FIELD, "FIELD REM/ EMPTY", "REM")
    return value


def _parse_fields_general(body: str) -> dict[str, str]:
    """Parse fields one at a time and raise the ER that names the first bad one."""
    fields: dict[str, str] = {}
    previous = "TXT"
    size = len(body)
    pos = _skip_space(body, 0)
    while pos < size:
        tag_match = _TAG.match(body, pos)
        if tag_match is None:
            where = previous if previous == "TXT" else f"{previous}/"
            raise MessageError(ErrorCode.FIELD, f"TEXT AFTER {where} IS NOT A FIELD")
        tag = tag_match.group(1)
        pos = tag_match.end()
        if tag in fields:
            raise MessageError(ErrorCode.FIELD, f"TAG {tag}/ REPEATED", tag)
        if tag == "REM":
            fields[tag] = remark_value(body[pos:])
            break
        end = body.find(".", pos)
        if end < 0:
            # The last field may lack its period.
            end = size
            value = body[pos:].rstrip(_WHITESPACE).strip(" \t")
        else:
            value = body[pos:end].strip(" \t")
        if not value:
            raise MessageError(ErrorCode.FIELD, f"FIELD {tag}/ EMPTY", tag)
        if "\r" in value or "\n" in value:
            raise MessageError(ErrorCode.FIELD, f"FIELD {tag}/ NOT ENDED BY PERIOD", tag)
        fields[tag] = value
        previous = tag
        pos = _skip_space(body, end + 1)
    return fields


def format_fields(fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Render fields one per line as ``TAG/value.``."""
    # A list of pairs (what responses build) is taken as it is: the check against the
    # Mapping ABC costs four times an exact type's.
    pairs = fields if isinstance(fields, list) else (
        fields.items() if isinstance(fields, Mapping) else fields)
    return "\n".join([f"{tag}/{value}." for tag, value in pairs])


def format_input(
    mke: str, sender: str, dests: Iterable[str], body: str, control: str | None = None
) -> str:
    """Render an input message (for line clients and tests); parse_input inverts it."""
    header = ".".join([mke, sender, *dests])
    if control:
        header = f"{header}.*{control}"
    return f"{header}.TXT\n{body}"
