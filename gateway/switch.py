"""The switch: journaled input → message → route → pipeline → outputs, stored in the journal.

Everything here runs synchronously on the event loop thread; the session hands a batch of
frames in and gets the stored outputs back for delivery.
"""

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from formats.errors import ErrorCode, MessageError
from formats.message import MAX_DESTINATIONS, YQ_MAX_DESTINATIONS, InputMessage, parse_input
from formats.notices import format_er_body, format_sm_body
from gateway.clock import Clock
from gateway.journal import AuditRecord, Journal, JournaledInput, PendingOutput, StoredOutput
from gateway.metrics import NO_HOOKS, Hooks
from responders.base import Exchange, Pipeline, Reply, Services
from responders.forward import FORWARD
from responders.lesc_desk import Effect
from responders.registry import find_pipeline
from routing.resolve import Destination, Router
from routing.services import SWITCH_ORI

RecordEffects = Callable[[Sequence[Effect], sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class Origin:
    """The input an emitted output answers: its header line 2 and control field come from it."""

    input_id: int
    in_time: datetime
    in_seq: int
    control: str | None


class Switch:
    """Answers journaled inputs and stores every output it causes."""

    def __init__(
        self,
        *,
        router: Router,
        pipelines: Mapping[tuple[str, str], Pipeline],
        services: Services,
        journal: Journal,
        clock: Clock,
        is_signed_on: Callable[[str], bool],
        log: Any,
        record_effects: RecordEffects | None = None,
    ) -> None:
        self._router = router
        self._pipelines = dict(pipelines)
        self._services = services
        self._journal = journal
        self._clock = clock
        self._is_signed_on = is_signed_on
        self._log = log
        self.hooks: Hooks = NO_HOOKS
        # Audit records of the batch being answered; stored with its outputs.
        self._audit: list[AuditRecord] = []
        # LESC state changes (responders/lesc_desk.py) of the batch being answered; stored
        # with its outputs, and looked up by later inputs of the batch (see uncommitted).
        self._record_effects = record_effects
        self._effects: list[Effect] = []

    def handle(self, line: str, frames: Iterable[tuple[str, str | None]]) -> list[StoredOutput]:
        """Journal a batch of frames (text, framing fault) from a line, answer and store them."""
        inputs = self._journal.record_inputs(line, self._clock.now(), frames)
        return self.process(inputs) if inputs else []

    def process(self, inputs: list[JournaledInput]) -> list[StoredOutput]:
        """Answer journaled inputs and store their outputs and state changes in one transaction."""
        pending: list[PendingOutput] = []
        self._audit = []
        # One clock reading per batch: the outputs of a batch leave together.
        now = self._clock.now()
        try:
            for item in inputs:
                pending.extend(self._answer(item, now))
            effects = self._effects
        finally:
            self._effects = []
        audit, self._audit = self._audit, []
        also = None
        if effects:
            if self._record_effects is None:
                raise RuntimeError("a pipeline changed LESC state and no casebook takes it")
            also = partial(self._record_effects, effects)
        return self._journal.store_outputs(
            [item.id for item in inputs], pending, audit, also=also
        )

    def uncommitted(self) -> Sequence[Effect]:
        """LESC state changes of the batch being answered, not yet in the journal.

        The casebook adds them to what it reads, so an input finds a case or detainer an
        earlier input of the same batch brought.
        """
        return self._effects

    def emit(self, origin: Origin, replies: Iterable[Reply]) -> list[PendingOutput]:
        """Outputs no arriving input caused (a deadline, a technician's answer), to store.

        Header line 2 and the control field are those of ``origin``, the input they answer.
        """
        now = self._clock.now()
        return [self._pending(origin, now, reply) for reply in replies]

    def recover(self) -> int:
        """Answer inputs journaled before a crash whose outputs were never stored."""
        inputs = self._journal.unprocessed_inputs()
        if inputs:
            self.process(inputs)
            self._log.warning("journal.recovered", inputs=len(inputs))
        return len(inputs)

    def _answer(self, item: JournaledInput, now: datetime) -> list[PendingOutput]:
        if item.bad is not None:
            return [self._error(item, now, None, MessageError(ErrorCode.FORMAT, item.bad))]
        try:
            msg = parse_input(item.text)
        except MessageError as exc:
            return [self._error(item, now, None, exc)]
        try:
            self._router.check_sender(item.line, msg.sender)
        except MessageError as exc:
            self._log.warning(
                "security.violation",
                line=item.line,
                ori=msg.sender,
                mke=msg.mke,
                in_seq=item.in_seq,
                error_code=str(exc.code),
                detail=exc.detail,
            )
            return [self._error(item, now, msg, exc, to_sender=False)]
        try:
            limit = YQ_MAX_DESTINATIONS if msg.mke == "YQ" else MAX_DESTINATIONS
            resolution = self._router.resolve_all(msg.dests, limit)
        except MessageError as exc:
            return [self._error(item, now, msg, exc)]
        destinations = resolution.destinations
        if not destinations:
            return [self._error(item, now, msg, exc) for exc in resolution.rejected]
        self._log.info(
            "message.accepted",
            line=item.line,
            ori=msg.sender,
            mke=msg.mke,
            dest=".".join(msg.dests),
            in_seq=item.in_seq,
            control=msg.control,
        )
        self._audit.append(
            AuditRecord(item.received_at, "accepted", item.line, msg.sender, msg.mke, item.in_seq)
        )
        self.hooks.accepted(item.line, msg.mke)
        origin = Origin(item.id, item.received_at, item.in_seq, msg.control)
        # The destinations that resolved get the message; each other one gets its own ER.
        outputs = [self._error(item, now, msg, exc) for exc in resolution.rejected]
        errors: set[tuple[str, str]] = set()
        for destination in destinations:
            try:
                replies = self._run(item, msg, destination)
            except MessageError as exc:
                # One ER per distinct fault, however many destinations share it.
                if (exc.code, exc.detail) not in errors:
                    errors.add((exc.code, exc.detail))
                    outputs.append(self._error(item, now, msg, exc))
                continue
            outputs.extend(self._pending(origin, now, reply) for reply in replies)
            if destination.kind == "line" and not self._is_signed_on(destination.name):
                outputs.append(
                    self._notice(item, now, msg, "SM", format_sm_body(destination.address))
                )
        return outputs

    def _run(self, item: JournaledInput, msg: InputMessage, dest: Destination) -> list[Reply]:
        service = FORWARD if dest.kind == "line" else dest.name
        pipeline = find_pipeline(self._pipelines, service, msg.mke)
        if pipeline is None:
            raise MessageError(
                ErrorCode.TYPE_NOT_ALLOWED,
                f"{msg.mke} NOT TAKEN BY {dest.address}",
                "MKE",
            )
        exchange = Exchange(
            message=msg,
            line=item.line,
            destination=dest,
            received_at=item.received_at,
            control_number=f"{item.id:010d}",
            services=self._services,
        )
        replies = pipeline.run(exchange)
        if exchange.effects:
            self._effects.extend(exchange.effects)
        return replies

    def _pending(self, origin: Origin, now: datetime, reply: Reply) -> PendingOutput:
        line = self._router.line_of(reply.dest)
        if line is None:
            raise RuntimeError(f"output addressed {reply.dest}, which is on no line")
        return PendingOutput(
            line=line,
            input_id=origin.input_id,
            mke=reply.mke,
            sender=reply.sender,
            dest=reply.dest,
            control=origin.control,
            body=reply.body,
            in_time=origin.in_time,
            in_seq=origin.in_seq,
            out_time=now,
        )

    def _notice(
        self,
        item: JournaledInput,
        now: datetime,
        msg: InputMessage | None,
        mke: str,
        body: str,
        to_sender: bool = True,
    ) -> PendingOutput:
        # The sender ORI passed the ownership check, or the line code stands in for it:
        # either way the notice goes back on the sending line.
        dest = msg.sender if msg is not None and to_sender else item.line
        control = msg.control if msg is not None else None
        origin = Origin(item.id, item.received_at, item.in_seq, control)
        return self._pending(origin, now, Reply(mke, SWITCH_ORI, dest, body))

    def _error(
        self,
        item: JournaledInput,
        now: datetime,
        msg: InputMessage | None,
        exc: MessageError,
        to_sender: bool = True,
    ) -> PendingOutput:
        self._log.info(
            "message.rejected",
            line=item.line,
            ori=msg.sender if msg is not None else None,
            mke=msg.mke if msg is not None else None,
            in_seq=item.in_seq,
            error_code=str(exc.code),
            detail=exc.detail,
            text=item.text[:100],
        )
        self._audit.append(
            AuditRecord(
                item.received_at,
                "rejected",
                item.line,
                msg.sender if msg is not None else None,
                msg.mke if msg is not None else None,
                item.in_seq,
                outcome=f"{exc.code} {exc.detail}",
            )
        )
        self.hooks.rejected(item.line, str(exc.code))
        body = format_er_body(exc.code, exc.detail, item.text)
        return self._notice(item, now, msg, "ER", body, to_sender)

