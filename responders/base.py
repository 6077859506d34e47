"""The responder protocol: a pipeline is a tuple of small steps run over one exchange.

Like structlog's processors or jPOS participants, each step does one thing to the
:class:`Exchange` (parse, validate, look up, answer) and may end the run early. A step raises
:class:`formats.errors.MessageError` to have the switch answer with an ER.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from formats.message import InputMessage
from responders.lesc_desk import NO_DESK, Effect, LescDesk
from routing.lines import LineRegistry
from routing.resolve import Destination


class RecordLookup(Protocol):
    """What pipelines may ask of the immigration index."""

    def by_arn(self, arn: str) -> Any:
        """The record with this A-number, or None."""
        ...

    def by_name(self, last: str, first: str, dob: date, sex: str | None) -> list[Any]:
        """Records matching Soundex surname, first initial and DOB (sex filters unless U)."""
        ...

    def by_nic(self, nic: str) -> Any:
        """The IVF record with this NCIC number, or None."""
        ...

    def ivf_by_name(self, last: str, first: str, dob: date, sex: str | None) -> list[Any]:
        """IVF records matching the name search."""
        ...


@dataclass(frozen=True, slots=True)
class Services:
    """Data the gateway lends to pipelines; everything here is read-only to them."""

    index: RecordLookup
    lines: LineRegistry
    desk: LescDesk = NO_DESK


@dataclass(frozen=True, slots=True)
class Reply:
    """An output a pipeline produces: the switch adds the header, sequence and control."""

    mke: str
    sender: str
    dest: str
    body: str


@dataclass(slots=True)
class Exchange:
    """One input on its way through one pipeline, and the outputs it has caused so far."""

    message: InputMessage
    line: str
    destination: Destination
    received_at: datetime
    control_number: str
    services: Services
    fields: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    outputs: list[Reply] = field(default_factory=list)
    # Changes to LESC state, written in the same transaction as the outputs.
    effects: list[Effect] = field(default_factory=list)
    done: bool = False

    @property
    def today(self) -> date:
        """The date the input entered the switch; field rules judge dates against it."""
        return self.received_at.date()

    def reply(self, mke: str, sender: str, body: str) -> None:
        """Answer the sender of the input."""
        self.outputs.append(Reply(mke, sender, self.message.sender, body))

    def send(self, mke: str, sender: str, dest: str, body: str) -> None:
        """Send an output to another ORI or line."""
        self.outputs.append(Reply(mke, sender, dest, body))


ANY_MKE = "*"


class Step(Protocol):
    """One small stage of a pipeline."""

    def __call__(self, exchange: Exchange) -> None:
        """Act on the exchange; set ``exchange.done`` to end the run."""
        ...


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Steps that answer one service for a set of message keys (``ANY_MKE`` takes all)."""

    service: str
    accepts: frozenset[str]
    steps: Sequence[Step | Callable[[Exchange], None]]

    def run(self, exchange: Exchange) -> list[Reply]:
        """Run the steps in order until one ends the exchange; return its outputs."""
        for step in self.steps:
            step(exchange)
            if exchange.done:
                break
        return exchange.outputs
