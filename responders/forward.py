"""Messages to a line or an ORI on a line go on unchanged (store-and-forward is the switch's)."""

from responders.base import ANY_MKE, FORWARD, Exchange, Pipeline


def forward_unchanged(exchange: Exchange) -> None:
    """Copy the input to the destination as it was written, sender and body unchanged."""
    msg = exchange.message
    exchange.send(msg.mke, msg.sender, exchange.destination.address, msg.body)


pipeline = Pipeline(service=FORWARD, accepts=frozenset({ANY_MKE}), steps=(forward_unchanged,))
