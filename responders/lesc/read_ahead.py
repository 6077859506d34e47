"""The IAQ pipeline's reading ahead (Pipeline.prepare): a batch's IAQs parsed and their names
searched in the central index before any of them is answered.

Both depend on nothing an exchange changes (the body, the date of receipt, the index file),
and done for the whole batch in two loops they run warm: in the switch, 1,024 IAQs at a
time, the name search took 2.2 µs an IAQ so against 5.4 µs between the other steps of each
IAQ (docs/benchmarks.md, round 27). ``read_iaq`` and the indices' subjects take what was read
ahead, and do the work themselves for an exchange that has none.
"""

from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from formats.errors import MessageError
from formats.iaq import IAQ, parse_iaq
from formats.message import InputMessage
from responders.base import Exchange
from responders.lesc.desk import LescState


class ReadAhead(NamedTuple):
    """An IAQ read ahead of its exchange: its fields and the IAQ (``parse_iaq``'s result for
    the exchange's date of receipt) and the central index's records for its name, DOB and
    sex."""

    fields: dict[str, str]
    iaq: IAQ
    by_name: list[Any]


def read_ahead(state: Any, inputs: Sequence[tuple[InputMessage, date]],
               ) -> list[ReadAhead | MessageError]:
    """Each input's IAQ and name search, or the fault of a body that is no valid IAQ (its
    step raises it in turn, rather than parse the body again)."""
    if not isinstance(state, LescState):
        raise TypeError("the LESC's pipeline reads ahead with the LESC's state")
    parsed: list[tuple[dict[str, str], IAQ] | MessageError] = []
    for message, today in inputs:
        try:
            parsed.append(parse_iaq(message.body, today))
        except MessageError as exc:
            parsed.append(exc)
    # The searches after all the parses, not in turn: each loop keeps its own code warm.
    by_name = state.index.by_name
    return [
        read if isinstance(read, MessageError)
        else ReadAhead(read[0], read[1], by_name(read[1].last, read[1].first, read[1].dob,
                                                 read[1].sex))
        for read in parsed
    ]


def read_ahead_of(exchange: Exchange) -> ReadAhead | None:
    """What the pipeline read ahead for the exchange's IAQ, or None (nothing, or a fault)."""
    ahead = exchange.prepared
    return ahead if type(ahead) is ReadAhead else None
