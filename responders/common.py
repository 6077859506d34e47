"""Steps shared by several pipelines."""

from formats.message import parse_fields
from responders.base import Exchange


def parse_body_fields(exchange: Exchange) -> None:
    """Split the body into ``TAG/value.`` fields."""
    exchange.fields = parse_fields(exchange.message.body)
