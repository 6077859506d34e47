"""Builders for input texts used across the tests."""

from formats.message import format_fields, format_input

IAQ_FIELDS = {
    "PUR": "C",
    "ATN": "DET SMITH",
    "PHN": "916-555-0100",
    "NAM": "GARCIA, MARIA ELENA",
    "DOB": "19850314",
    "SEX": "F",
    "POB": "MX",
    "CUS": "N",
    "OFF": "0399",
}


def iaq(sender: str, dest: str = "AX", control: str | None = None, **fields: str | None) -> str:
    """An IAQ with the default fields, overridden (or removed, with None) by ``fields``."""
    values = dict(IAQ_FIELDS)
    for tag, value in fields.items():
        if value is None:
            values.pop(tag.upper(), None)
        else:
            values[tag.upper()] = value
    return format_input("IAQ", sender, [dest], format_fields(values), control)


def am(sender: str, *dests: str, text: str = "TEST MESSAGE", control: str | None = None) -> str:
    """An administrative message."""
    return format_input("AM", sender, dests, text, control)


def field_lines(body: str) -> dict[str, str]:
    """``TAG/value.`` lines of an output body as a dict (other lines ignored)."""
    values: dict[str, str] = {}
    for line in body.splitlines():
        if len(line) > 4 and line[3] == "/" and line.endswith("."):
            values[line[:3]] = line[4:-1]
    return values
