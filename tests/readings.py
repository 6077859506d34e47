"""What a parser makes of a text, result or fault: how a fast reading is held to the general one."""

from collections.abc import Callable

from formats.errors import MessageError


def reading(parser: Callable[[str], object], text: str) -> object:
    """``parser(text)``, or the MessageError it raises as (code, detail, field)."""
    try:
        return parser(text)
    except MessageError as exc:
        return (exc.code, exc.detail, exc.field)
