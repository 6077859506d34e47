"""Steps shared by several pipelines."""

from formats.message import parse_fields
from responders.base import Exchange
from responders.lesc.desk import QueryServed


def parse_body_fields(exchange: Exchange) -> None:
    """Split the body into ``TAG/value.`` fields."""
    exchange.fields = parse_fields(exchange.message.body)


def count_query(
    exchange: Exchange, kind: str, purpose: str | None = None, indices: str | None = None
) -> None:
    """Record a valid query to the LESC or NCIC for the yearly figures.

    ``indices`` is the IAR's ``IDX/`` listing of an IAQ ("" or None: no index searched).
    """
    exchange.effects.append(
        QueryServed(
            int(exchange.control_number),
            kind,
            purpose,
            exchange.line,
            exchange.message.sender,
            exchange.received_at,
            indices or None,
        )
    )
