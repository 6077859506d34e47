"""Steps shared by several pipelines."""

from formats.message import parse_fields
from responders.base import Exchange
from responders.lesc.desk import QueryServed


def parse_body_fields(exchange: Exchange) -> None:
    """Split the body into ``TAG/value.`` fields."""
    exchange.fields = parse_fields(exchange.message.body)


def count_query(
    exchange: Exchange,
    kind: str,
    purpose: str | None = None,
    booking: tuple[str, str] | None = None,
    indices: str | None = None,
) -> None:
    """Record a valid query to the LESC or NCIC for the yearly figures.

    ``booking`` (ORI, line) marks a biometric IAQ, counted for its booking agency;
    ``indices`` is the IAR's ``IDX/`` listing of an IAQ ("" or None: no index searched).
    """
    ori, line = booking or (exchange.message.sender, exchange.line)
    # Built from a tuple of its fields, as Exchange.reply builds a Reply (responders/base.py).
    served = (int(exchange.control_number), kind, purpose, line, ori, exchange.received_at,
              booking is not None, indices or None)
    exchange.effects.append(tuple.__new__(QueryServed, served))
