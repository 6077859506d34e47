"""The switch: journaled input → message → route → pipeline → outputs, stored in the journal.

Everything here runs synchronously on the event loop thread; the session hands a batch of
frames in and gets the stored outputs back for delivery.

One input and one of its destinations make an exchange, jPOS's transaction: a step failing
with anything but a MessageError aborts that exchange alone (SPEC.md §11, docs/reliability.md).
Its outputs and state changes are dropped, the sender gets SM .04., the input is marked
failed, and the other exchanges and inputs of the read are answered as usual.

The switch knows services only through the host (gateway/services.py): the pipeline that
answers a key, the state an exchange reads, and the runtime that writes its effects.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from formats.errors import ErrorCode, MessageError
from formats.message import MAX_DESTINATIONS, YQ_MAX_DESTINATIONS, InputMessage, format_input
from formats.nlets_xml import XmlInput, read_input, xml_error
from formats.notices import format_er_body, format_sm_body, format_sm_unable_body
from gateway.journal import AuditRecord, Journal, JournaledInput, NumberedOutput, PendingOutput
from gateway.logs import HeldLines
from gateway.metrics import NO_HOOKS, Hooks
from gateway.outputs import Outputs, pending_output
from gateway.services import ServiceHost
from gateway.store import DATABASE_ERRORS
from responders.base import (
    FORWARD,
    Clock,
    Exchange,
    Origin,
    Prepare,
    Reply,
    raised_at,
    summary,
)
from routing.lines import LineRegistry
from routing.resolve import Destination, Resolution, Router
from routing.services import SWITCH_ORI

# A state change and the service whose runtime writes it.
Owned = tuple[str, object]
# A line's frames of a batch: (line, [(text, framing fault), ...]).
LineFrames = tuple[str, Sequence[tuple[str, str | None]]]
# Inputs a transaction at most: it bounds a transaction's time (about 40 ms of a core at
# 1,024 IAQs) and how long a large iteration's first outputs wait for its last inputs. Larger
# parts cost an iteration fewer commits and socket writes, and an IAQ less time
# (docs/benchmarks.md, round 26); a service's look-ups in the batch's uncommitted effects
# cost an input what it added, whatever the batch's size (ServiceContext.uncommitted).
MAX_BATCH = 1024


# A named tuple built by tuple.__new__, as responders/base.py builds a Reply: one an input.
class _Answered(NamedTuple):
    """What answering one input brought; stored together, in one transaction or none."""

    item: JournaledInput
    outputs: list[PendingOutput]
    audit: list[AuditRecord]
    effects: list[Owned]
    failed: bool


# An input's header read ahead (_read_header): the message, the fault it has, or None when
# it is read in turn.
Header = InputMessage | MessageError | None


def _read_header(item: JournaledInput) -> Header:
    """The input's header read ahead of its turn: the message or its fault; None for a framing
    fault, and for a reader that failed otherwise, which then fails again in the input's
    turn, where an exception aborts that input alone."""
    if item.bad is not None:
        return None
    try:
        # Any line may send either form (SPEC.md §10): XML when the text starts with '<'.
        return read_input(item.text)
    except MessageError as exc:
        return exc
    except Exception:
        return None


class Switch:
    """Answers journaled inputs and stores every output it causes."""

    def __init__(
        self,
        *,
        router: Router,
        services: ServiceHost,
        lines: LineRegistry,
        journal: Journal,
        outputs: Outputs,
        clock: Clock,
        in_service: Callable[[str], bool],
        log: Any,
        hooks: Hooks = NO_HOOKS,
    ) -> None:
        self._router = router
        self._services = services
        self._lines = lines
        self._journal = journal
        self._outputs = outputs
        self._clock = clock
        self._in_service = in_service
        self._log = log
        # The per-message INFO lines of the batch being answered, logged together once it is
        # answered, and before any other line the switch logs (docs/reliability.md, "Logs").
        self._held = HeldLines(log)
        self._hooks = hooks
        # The base's hooks do nothing: per message, not even called (a call an input less).
        self._hooked = hooks is not NO_HOOKS
        # Audit records of the batch being answered; stored with its outputs.
        self._audit: list[AuditRecord] = []
        # State changes of the batch being answered: stored with its outputs, and read by
        # later inputs of the batch through their service's ServiceContext.uncommitted. The
        # switch appends to the list itself, and drops through the batch, which keeps views.
        self._batch = services.batch
        self._effects = services.batch.effects
        # Inputs of the batch with an aborted exchange.
        self._failed: set[int] = set()
        # What pipelines read ahead for the batch being answered, by (input id, service).
        self._prepared: dict[tuple[int, str], Any] = {}

    def handle_lines(
        self, batch: Sequence[LineFrames], deliver: Callable[[list[NumberedOutput]], None]
    ) -> None:
        """Journal the frames of several lines in one transaction, answer and store them in
        another, :data:`MAX_BATCH` inputs at a time, and hand each part's stored outputs to
        ``deliver`` before the next part is answered: what a loop iteration read from every
        line costs two commits, not two a line (docs/architecture.md, "One batch a loop
        iteration")."""
        for part in _parts(batch, MAX_BATCH):
            inputs = self._journal.record_lines(self._clock.now(), part)
            if inputs:
                deliver(self.process(inputs))

    def process(self, inputs: list[JournaledInput]) -> list[NumberedOutput]:
        """Answer journaled inputs and store their outputs and state changes in one transaction.

        When the journal refuses the batch for what one input brought (the casebook refuses a
        state change), each input is stored on its own, and one refused alone is failed.
        """
        # One clock reading per batch: the outputs of a batch leave together.
        now = self._clock.now()
        self._audit = []
        self._failed = set()
        # Read ahead, for the whole batch before any input is answered: each loop over the
        # batch keeps its code warm (docs/architecture.md, "Reading ahead").
        headers = [_read_header(item) for item in inputs]
        self._read_ahead(inputs, headers)
        try:
            answered = [self._answer_input(item, header, now)
                        for item, header in zip(inputs, headers, strict=True)]
        finally:
            self._held.write()
            self._batch.clear()
            self._audit = []
            self._prepared.clear()
        if len(answered) > 1:
            try:
                return self._store(answered)
            except DATABASE_ERRORS:
                # The journal itself (disk, lock, connection): nothing an input did. The inputs stay
                # unprocessed and are answered on recovery.
                raise
            except Exception as exc:
                self._log.warning("switch.batch_refused", inputs=len(answered), error=summary(exc))
        return [stored for answer in answered for stored in self._store_alone(answer, now)]

    def _read_ahead(self, inputs: Sequence[JournaledInput], headers: Sequence[Header]) -> None:
        """Have each pipeline with a ``prepare`` read ahead for the batch's inputs that reach
        it (Pipeline.prepare); what it read waits in ``_prepared`` for their exchanges."""
        # By (service, key): its pipeline's prepare and the state it reads, the inputs' ids
        # and (message, date of receipt).
        reading: dict[tuple[str, str], tuple[Prepare, Any, list[int],
                                             list[tuple[InputMessage, date]]]] = {}
        for item, msg in zip(inputs, headers, strict=True):
            if not isinstance(msg, InputMessage):
                continue
            try:
                for destination in self._resolve(msg).destinations:
                    service = _service_of(destination)
                    group = reading.get((service, msg.mke))
                    if group is None:
                        answering = self._services.answering(service, msg.mke)
                        if answering is None or answering.pipeline.prepare is None:
                            continue
                        group = reading[(service, msg.mke)] = (
                            answering.pipeline.prepare, answering.runtime.state, [], [])
                    group[2].append(item.id)
                    group[3].append((msg, item.received_at.date()))
            except Exception:
                # A fault of the input (its ER), or worse: met again in the input's turn, where
                # it is answered, or the input aborted, alone.
                continue
        for (service, _), (prepare, state, ids, messages) in reading.items():
            try:
                values = prepare(state, messages)
                if len(values) != len(ids):
                    raise ValueError(f"{len(values)} values read ahead for {len(ids)} inputs")
            except Exception as exc:
                # Reading ahead only saves time: the steps do the work themselves.
                self._log.warning("switch.read_ahead_failed", service=service,
                                  error=summary(exc), where=raised_at(exc))
                continue
            for ident, value in zip(ids, values, strict=True):
                if value is not None:
                    self._prepared[(ident, service)] = value

    def _store_alone(self, answer: _Answered, now: datetime) -> list[NumberedOutput]:
        """Store one input's answer; fail the input when the journal refuses it."""
        try:
            return self._store([answer])
        except DATABASE_ERRORS:
            raise
        except Exception as exc:
            return self._store([self._abort(answer.item, now, exc)])

    def _store(self, answered: Sequence[_Answered]) -> list[NumberedOutput]:
        """Each service's effects, the outputs, the audit rows, the inputs marked: one commit."""
        with self._journal.transaction() as tx:
            self._services.write([e for answer in answered for e in answer.effects], tx)
            return self._outputs.store(
                [answer.item.id for answer in answered],
                [output for answer in answered for output in answer.outputs],
                [record for answer in answered for record in answer.audit],
                failed={answer.item.id for answer in answered if answer.failed},
            )

    def _answer_input(self, item: JournaledInput, header: Header, now: datetime) -> _Answered:
        """Answer one input; anything escaping its exchanges aborts the whole input."""
        audit_from, effects_from = len(self._audit), len(self._effects)
        try:
            outputs = self._answer(item, header, now)
        except Exception as exc:
            # Later inputs of the batch must not see what this one brought.
            del self._audit[audit_from:]
            self._batch.drop(effects_from)
            return self._abort(item, now, exc)
        return tuple.__new__(_Answered, (item, outputs, self._audit[audit_from:],
                                         self._effects[effects_from:], item.id in self._failed))

    def recover(self) -> int:
        """Answer inputs journaled before a crash whose outputs were never stored.

        One input at a time, each in its own transaction: an input the journal cannot store
        now stays unprocessed for the next start and holds up neither the others nor this
        start. A failed input is not unprocessed, so it is never run again.
        """
        inputs = self._journal.unprocessed_inputs()
        unanswered = 0
        for item in inputs:
            try:
                self.process([item])
            except Exception as exc:
                unanswered += 1
                self._log.error(
                    "journal.recover_failed",
                    line=item.line,
                    in_seq=item.in_seq,
                    error=summary(exc),
                    where=raised_at(exc),
                )
        if inputs:
            self._log.warning("journal.recovered", inputs=len(inputs), unanswered=unanswered)
        return len(inputs)

    def _answer(self, item: JournaledInput, header: Header, now: datetime) -> list[PendingOutput]:
        if item.bad is not None:
            return [self._error(item, now, None, MessageError(ErrorCode.FORMAT, item.bad))]
        if isinstance(header, MessageError):
            return [self._error(item, now, None, header)]
        if header is None:
            try:
                msg = read_input(item.text)
            except MessageError as exc:
                return [self._error(item, now, None, exc)]
        else:
            msg = header
        try:
            self._router.check_sender(item.line, msg.sender)
        except MessageError as exc:
            self._held.write()
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
            self._router.check_authorized(msg.mke, msg.sender)
            resolution = self._resolve(msg)
        except MessageError as exc:
            return [self._error(item, now, msg, exc)]
        destinations = resolution.destinations
        if not destinations:
            return [self._error(item, now, msg, exc) for exc in resolution.rejected]
        self._held.info(
            "message.accepted",
            line=item.line,
            ori=msg.sender,
            mke=msg.mke,
            dest=".".join(msg.dests),
            in_seq=item.in_seq,
            control=msg.control,
        )
        self._audit.append(
            AuditRecord(item.received_at, "accepted", item.line, msg.sender, msg.mke, item.in_seq,
                        item.id)
        )
        if self._hooked:
            self._hooks.accepted(item.line, msg.mke)
        # Built from a tuple of its fields, as Exchange.reply builds a Reply (responders/base.py).
        origin = tuple.__new__(Origin, (item.id, item.received_at, item.in_seq, msg.control))
        # The destinations that resolved get the message; each other one gets its own ER.
        outputs = (
            [self._error(item, now, msg, exc) for exc in resolution.rejected]
            if resolution.rejected else []
        )
        # The faults already answered, made on the first one (most inputs have none).
        errors: set[tuple[str, str]] | None = None
        for destination in destinations:
            try:
                replies, effects = self._run(item, msg, destination)
                # Loops rather than comprehensions here and in _run: on Python 3.11 each
                # comprehension run makes a function and a frame, for one or two items.
                produced = []
                for reply in replies:
                    produced.append(pending_output(self._router, origin, now, reply))
            except MessageError as exc:
                # One ER per distinct fault, however many destinations share it.
                if errors is None:
                    errors = set()
                if (exc.code, exc.detail) not in errors:
                    errors.add((exc.code, exc.detail))
                    outputs.append(self._error(item, now, msg, exc))
                continue
            except Exception as exc:
                # Abort this exchange: what it produced is dropped (SPEC.md §11).
                outputs.append(self._fail(item, now, msg, destination.address, exc))
                continue
            self._effects.extend(effects)
            outputs.extend(produced)
            if destination.kind == "line" and not self._in_service(destination.name):
                outputs.append(
                    self._notice(item, now, msg, "SM", format_sm_body(destination.address))
                )
        return outputs

    def _resolve(self, msg: InputMessage) -> Resolution:
        """The message's destinations resolved, as many as its key allows."""
        limit = YQ_MAX_DESTINATIONS if msg.mke == "YQ" else MAX_DESTINATIONS
        return self._router.resolve_all(msg.dests, limit)

    def _run(
        self, item: JournaledInput, msg: InputMessage, dest: Destination
    ) -> tuple[list[Reply], list[Owned]]:
        service = _service_of(dest)
        answering = self._services.answering(service, msg.mke)
        if answering is None:
            raise MessageError(
                ErrorCode.TYPE_NOT_ALLOWED,
                f"{msg.mke} NOT TAKEN BY {dest.address}",
                "MKE",
            )
        pipeline, runtime, owner = answering
        # By position: by keyword the exchange took 1.5 us to build, this way 1.05. The
        # control number by str().zfill: a format spec (010d) costs twice as much.
        exchange = Exchange(msg, item.line, dest, item.received_at, str(item.id).zfill(10),
                            self._lines, runtime.state,
                            self._prepared.get((item.id, service)) if self._prepared else None)
        replies = pipeline.run(exchange)
        owned: list[Owned] = []
        for effect in exchange.effects:
            owned.append((owner, effect))
        return replies, owned

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
        return pending_output(self._router, origin, now, Reply(mke, SWITCH_ORI, dest, body))

    def _error(
        self,
        item: JournaledInput,
        now: datetime,
        msg: InputMessage | None,
        exc: MessageError,
        to_sender: bool = True,
    ) -> PendingOutput:
        if isinstance(msg, XmlInput):
            # The ER of an XML input names the element, not the legacy field.
            exc = xml_error(exc, msg.tagged)
        quoted = _quoted(item, msg)
        self._held.info(
            "message.rejected",
            line=item.line,
            ori=msg.sender if msg is not None else None,
            mke=msg.mke if msg is not None else None,
            in_seq=item.in_seq,
            error_code=str(exc.code),
            detail=exc.detail,
            text=quoted[:100],
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
        self._hooks.rejected(item.line, str(exc.code))
        body = format_er_body(exc.code, exc.detail, quoted)
        return self._notice(item, now, msg, "ER", body, to_sender)

    def _fail(
        self,
        item: JournaledInput,
        now: datetime,
        msg: InputMessage,
        dest: str,
        exc: Exception,
    ) -> PendingOutput:
        """Record an aborted exchange and give the SM .04. for its destination."""
        self._failed.add(item.id)
        self._audit.append(self._failure(item, msg, dest, exc))
        return self._notice(item, now, msg, "SM", format_sm_unable_body(dest))

    def _abort(self, item: JournaledInput, now: datetime, exc: Exception) -> _Answered:
        """Fail a whole input: an SM .04. per destination in place of all it brought."""
        msg = _read(item)
        dests = msg.dests if msg is not None else ()
        audit = [self._failure(item, msg, ".".join(dests) or None, exc)]
        # The notices stay on the sending line; a line gone from the registry gets none.
        outputs = []
        if self._router.line_of(item.line) is not None:
            to_sender = msg is not None and self._router.line_of(msg.sender) == item.line
            outputs = [
                self._notice(item, now, msg, "SM", format_sm_unable_body(dest), to_sender)
                for dest in (dests or (None,))
            ]
        return _Answered(item, outputs, audit, [], True)

    def _failure(
        self, item: JournaledInput, msg: InputMessage | None, dest: str | None, exc: Exception
    ) -> AuditRecord:
        """Log a failed exchange (or input) at ERROR and give its audit record."""
        error = summary(exc)
        ori = msg.sender if msg is not None else None
        mke = msg.mke if msg is not None else None
        self._held.write()
        self._log.error(
            "pipeline.failed",
            line=item.line,
            ori=ori,
            mke=mke,
            dest=dest,
            in_seq=item.in_seq,
            control=msg.control if msg is not None else None,
            error=error,
            where=raised_at(exc),
            text=_quoted(item, msg)[:100],
        )
        self._hooks.failed(item.line, mke)
        outcome = f"{dest} {error}" if dest is not None else error
        return AuditRecord(item.received_at, "failed", item.line, ori, mke, item.in_seq,
                           outcome=outcome)


def _quoted(item: JournaledInput, msg: InputMessage | None) -> str:
    """The input as ERs quote it and logs show it: an XML input read far enough to have a
    header by its legacy translation (its first 100 characters say more than the namespace
    declarations), anything else as received."""
    if isinstance(msg, XmlInput):
        return format_input(msg.mke, msg.sender, msg.dests, msg.body, msg.control)
    return item.text


def _service_of(destination: Destination) -> str:
    """The service whose pipelines answer a destination: a line's is forwarding."""
    return FORWARD if destination.kind == "line" else destination.name


def _read(item: JournaledInput) -> InputMessage | None:
    """The input's header, when it can be read at all (for the notices of a failed input)."""
    header = _read_header(item)
    return header if isinstance(header, InputMessage) else None


def _parts(batch: Sequence[LineFrames], size: int) -> Iterator[list[LineFrames]]:
    """The batch in parts of at most ``size`` frames, each line's frames in order."""
    part: list[LineFrames] = []
    room = size
    for line, frames in batch:
        start = 0
        while start < len(frames):
            taken = frames[start : start + room]
            part.append((line, taken))
            start += len(taken)
            room -= len(taken)
            if room == 0:
                yield part
                part, room = [], size
    if part:
        yield part
