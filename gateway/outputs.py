"""The way out for every output: the outbox when its line is homed on another instance,
else numbered, rendered in its line's format and stored in the journal, inside the caller's
transaction.

The switch, the services' ``emit`` and the shutdown notice all store their outputs here, so
the journal only numbers and stores, and the scale-out decision is the bus's (its outbox).
"""

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from formats.framing import DEFAULT_MAX_TEXT
from formats.nlets_xml import render_xml_output
from formats.output import OutputMessage, format_output, format_output_parts
from gateway.journal import AuditRecord, Journal, NumberedOutput, PendingOutput, Render
from gateway.store import Transaction
from responders.base import Origin, Reply
from routing.lines import LineRegistry
from routing.resolve import Router


class Outbox(Protocol):
    """Where outputs for lines homed on another instance wait to cross the bus."""

    def keep(self, outputs: Sequence[PendingOutput], tx: Transaction) -> Sequence[PendingOutput]:
        """Keep those homed elsewhere (inside ``tx``); return the others, numbered here."""
        ...


def pending_output(router: Router, origin: Origin, now: datetime, reply: Reply) -> PendingOutput:
    """An output to store for ``reply``, answering ``origin``; RuntimeError when no line
    owns its destination."""
    line = router.line_of(reply.dest)
    if line is None:
        raise RuntimeError(f"output addressed {reply.dest}, which is on no line")
    # By position: ten keyword arguments cost 1.2 us a call, ten positional ones 0.3.
    return PendingOutput(line, origin.input_id, reply.mke, reply.sender, reply.dest,
                         origin.control, reply.body, origin.in_time, origin.in_seq, now)


def output_message(out: PendingOutput, seq: int) -> OutputMessage:
    """The output ``out`` numbered ``seq``, as either form writes it."""
    return OutputMessage(out.mke, out.sender, out.in_time, out.in_seq, out.out_time, seq,
                         out.dest, out.control, out.body)


def render_output(out: PendingOutput, seq: int) -> str:
    """The text a text line gets for ``out`` numbered ``seq``: header and body (SPEC.md §4)."""
    return format_output_parts(out.mke, out.sender, out.in_time, out.in_seq, out.out_time, seq,
                               out.dest, out.control, out.body)


class LineRender:
    """The text each line gets for an output, in the line's registry ``format``.

    An XML line gets the Nlets XML document (SPEC.md §10); when even the document without
    its tagged records is longer than the maximum frame (a response text near the limit),
    the line gets the output's text form instead, which its XML codec reads too: nothing is
    lost and the frame fits wherever the text form does (docs/xml.md).
    """

    __slots__ = ("_max_text", "_xml")

    def __init__(self, lines: LineRegistry, max_text: int = DEFAULT_MAX_TEXT) -> None:
        self._xml = frozenset(line.code for line in lines if line.format == "xml")
        self._max_text = max_text

    def __call__(self, out: PendingOutput, seq: int) -> str:
        if out.line in self._xml:
            msg = output_message(out, seq)
            document = render_xml_output(msg, self._max_text)
            if len(document) <= self._max_text:
                return document
            return format_output(msg)
        return render_output(out, seq)


def line_render(lines: LineRegistry, max_text: int = DEFAULT_MAX_TEXT) -> Render:
    """The text each line gets for an output: a LineRender when some line takes Nlets XML,
    else render_output itself (every line takes the text form; one call an output less)."""
    if any(line.format == "xml" for line in lines):
        return LineRender(lines, max_text)
    return render_output


class Outputs:
    """Stores outputs: each line homed here numbers its own, the outbox keeps the others."""

    def __init__(
        self, journal: Journal, outbox: Outbox | None = None, render: Render = render_output
    ) -> None:
        self._journal = journal
        # None with the in-process bus: every line is homed here.
        self._outbox = outbox
        # The text of each output in its line's format (LineRender); text alone by default.
        self._render = render

    def store(
        self,
        input_ids: Iterable[int],
        outputs: Sequence[PendingOutput],
        audit: Sequence[AuditRecord] = (),
        failed: Collection[int] = (),
    ) -> list[NumberedOutput]:
        """Store outputs and audit rows and mark inputs processed (``failed``: failed), in one
        transaction (the caller's, when one is open); the numbered ones come back."""
        if self._outbox is None:
            return self._journal.store_outputs(input_ids, outputs, self._render, audit, failed)
        with self._journal.transaction() as tx:
            here = self._outbox.keep(outputs, tx)
            return self._journal.store_outputs(input_ids, here, self._render, audit, failed)
