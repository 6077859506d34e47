"""``iaqgw simulate``: open-loop traffic from simulated state switches, checked as it comes back.

Inputs go out at ``rate`` per second on a fixed schedule whatever the answers do (open loop),
and latency runs from the scheduled moment, so a slow gateway cannot hide its queueing.
Each input carries a control field unique in the run; outputs are matched to inputs by it,
and only the outputs the run's own inputs caused count (:class:`OwnOutputs`).
"""

import asyncio
import contextlib
import gc
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from formats.errors import MessageError
from formats.notices import parse_er_body
from responders.lesc import LESC_ORI
from simulator.defaults import DEFAULT_DRAIN, DEFAULT_YQ_TIMEOUT, LescTiming
from simulator.record import Recorder
from simulator.report import ACKNOWLEDGED, ENHANCED, Report
from simulator.switches import (
    Delivered,
    OwnOutputs,
    SwitchLink,
    Target,
    connect_all,
    xml_input,
)
from simulator.traffic import (
    ANSWER_MKE,
    HitConfirmation,
    Planned,
    TrafficData,
    TrafficGenerator,
)

LESC_ACK: Final = "LESC ACKNOWLEDGES RECEIPT OF IAQ"
FINAL_STATUS: Final = frozenset({"CONFIRMED", "NOT CONFIRMED"})
# SPEC.md §4: a YR must go out within 10 minutes for PRI/U and within an hour for PRI/R.
YR_DEADLINE: Final = {"U": 600.0, "R": 3600.0}
# An IAR that says this announces a second, enhanced IAR (whatever the reason: STS/MLT, a
# PUR/F manual check, REM/ asking for one); the enhanced IAR carries ENH/Y.
ANNOUNCES_ENHANCED: Final = "ENHANCED RESPONSE FOLLOWS"
_NIC: Final = re.compile(r"NIC/([A-Z][0-9]{9})")
_STA: Final = re.compile(r"STA/([A-Z ]+?)\.")
# The collector's third threshold while a run sends (young collections before a full one):
# the largest it takes, never reached.
_NO_FULL_COLLECTION: Final = 2**31 - 1


def _is_enhanced(body: str) -> bool:
    # ENH/Y. at the start of a line, as the multiline ^ENH/Y\. finds it: str's search costs a
    # tenth of that expression's, which tries every position of the IAR.
    return body.startswith("ENH/Y.") or "\nENH/Y." in body


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """What ``iaqgw simulate`` was asked to do."""

    target: Target
    keys: dict[str, str]  # line code -> key
    rate: float
    count: int
    mix: dict[str, float]
    seed: int
    record: Path | None = None
    yq_timeout: float = DEFAULT_YQ_TIMEOUT
    drain: float = DEFAULT_DRAIN
    records: str = ""  # what the subjects were drawn from, for the record's run line
    wait_enhanced: bool = True  # whether the drain waits for announced enhanced responses
    xml_lines: frozenset[str] = frozenset()  # lines that send and read Nlets XML
    lesc_timing: LescTiming = "immediate"  # the gateway's --lesc-timing, for the record


@dataclass(slots=True)
class HitRequest:
    """A hit confirmation the simulated switch is waiting on."""

    hit: HitConfirmation
    qw_control: str
    first_at: float
    last_at: float
    rno: int = 1
    answered_at: float | None = None
    final: bool = False


@dataclass(slots=True)
class Sent:
    """An input on its way: when it was due, what answers it, what came back so far."""

    planned: Planned
    due: float
    answered: bool = False
    acknowledged: bool = False
    enhanced: Literal["", "due", "done"] = ""  # "due" once an IAR announced one
    request: HitRequest | None = None


@dataclass(slots=True)
class Simulation:
    """One run: sign on every line, send the mix, match outputs, summarise."""

    options: SimulationOptions
    data: TrafficData
    report: Report = field(default_factory=Report)
    links: dict[str, SwitchLink] = field(default_factory=dict)
    _pending: dict[str, Sent] = field(default_factory=dict)
    _requests: list[HitRequest] = field(default_factory=list)
    # Requests not final yet: counted, not summed at every output (they pile up over a run).
    _open_requests: int = 0
    _outstanding: int = 0
    _enhanced_due: int = 0
    _t0: float = 0.0
    _recorder: Recorder | None = None
    _generator: TrafficGenerator | None = None
    _own: OwnOutputs | None = None
    _settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def unsettled(self) -> int:
        """Answers, enhanced responses and final YRs still awaited."""
        return self._outstanding + self._enhanced_due + self._open_requests

    async def run(self) -> Report:
        """Run to the end (count sent, then answers drained) and return the summary."""
        options = self.options
        lines = list(options.keys)
        self._generator = TrafficGenerator(self.data, options.mix, lines, options.seed)
        self._own = OwnOutputs(self._on_output)
        self.links = await connect_all(options.target, options.keys, self._own,
                                       options.xml_lines)
        try:
            await self._own.start(
                self.links, {line: self.data.agencies[line][0] for line in lines}
            )
        except BaseException:
            await self._close_links()
            raise
        if options.record is not None:
            self._recorder = Recorder(options.record, {
                "target": str(options.target), "records": options.records, "lines": lines,
                "seed": options.seed, "xml_lines": sorted(options.xml_lines),
                "rate": options.rate, "count": options.count, "mix": options.mix,
                "lesc_timing": options.lesc_timing,
            })
        # What lives from here to the end (the traffic data, the links) is kept out of the
        # run's full collections: with the bench's 5,000 bodies one held the simulator for
        # 40 to 60 ms, and every latency then carried it as the gateway's (docs/benchmarks.md,
        # round 13). Only when nothing is frozen yet: the unfreeze below undoes all.
        frozen = gc.get_freeze_count() == 0
        if frozen:
            gc.collect()
            gc.freeze()
        # Nor does what the run makes (its sends, their records) get a full collection while
        # it runs: one came 3.5 s into the bench's latency run and held the simulator 8 to 10 ms,
        # in those latencies too (docs/benchmarks.md, round 24). Young collections go on; the
        # traffic leaves next to no cycles for a full one to find (50 objects in 25,000 IAQs).
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], _NO_FULL_COLLECTION)
        # perf_counter throughout: uvloop's loop clock ticks in whole milliseconds.
        self._t0 = time.perf_counter()
        self.report.lines = len(self.links)
        escalation = asyncio.create_task(self._escalate())
        try:
            await self._schedule()
            self.report.sending = time.perf_counter() - self._t0
            await self._drain()
        finally:
            escalation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await escalation
            self.report.elapsed = time.perf_counter() - self._t0
            self.report.earlier = self._own.earlier if self._own is not None else 0
            await self._close_links()
            if self._recorder is not None:
                self._recorder.close(self.report.elapsed, sent=self.report.sent,
                                     received=sum(self.report.outputs_by_mke.values()))
            gc.set_threshold(*thresholds)
            if frozen:
                gc.unfreeze()
        self._tally()
        return self.report

    async def _close_links(self) -> None:
        await asyncio.gather(*(link.close() for link in self.links.values()),
                             return_exceptions=True)

    async def _schedule(self) -> None:
        generator = self._generator
        assert generator is not None
        rate, total = self.options.rate, self.options.count
        number = 0
        while number < total:
            due_now = min(total, math.floor((time.perf_counter() - self._t0) * rate) + 1)
            while number < due_now:
                due = self._t0 + number / rate
                self._send(generator.next(), due)
                self.report.pacing.record(time.perf_counter() - due)
                number += 1
                self.report.scheduled = number
            if number < total:
                await asyncio.sleep(max(0.0, self._t0 + number / rate - time.perf_counter()))

    async def _drain(self) -> None:
        self._check_settled()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self.options.drain)

    def _check_settled(self) -> None:
        if self.unsettled:
            self._settled.clear()
        else:
            self._settled.set()

    def _send(self, planned: Planned, due: float, request: HitRequest | None = None) -> Sent:
        link = self.links[planned.line]
        assert self._own is not None
        self._own.sent(planned.line, planned.control)
        # An XML line sends the same message as a document; the record holds what went out.
        text = xml_input(planned.text) if planned.line in self.options.xml_lines else planned.text
        link.send(text)
        sent = Sent(planned, due, request=request)
        self._pending[planned.control] = sent
        self._outstanding += 1
        self.report.kind(planned.kind).sent += 1
        if planned.kind.startswith("iaq"):
            self.report.kind(ACKNOWLEDGED).sent += 1
        if self._recorder is not None:
            at = time.perf_counter() - self._t0
            self._recorder.send(at, planned.line, planned.kind, text)
        return sent

    def _answer(self, sent: Sent, at: float) -> None:
        if sent.answered:
            return
        sent.answered = True
        self._outstanding -= 1
        stats = self.report.kind(sent.planned.kind)
        stats.answered += 1
        stats.record(at - sent.due)

    def _on_output(self, delivered: Delivered) -> None:
        self._output(delivered)
        self._check_settled()

    def _output(self, delivered: Delivered) -> None:
        message = delivered.message
        self.report.outputs_by_mke[message.mke] += 1
        if self._recorder is not None:
            self._recorder.recv(delivered.at - self._t0, delivered.line, delivered.seq,
                                delivered.text)
        sent = self._pending.get(message.control) if message.control else None
        if sent is None:
            return
        if message.mke == "ER":
            try:
                code = str(parse_er_body(message.body)[0])
            except MessageError:
                code = "?"
            self.report.errors_by_code[code] += 1
            self.report.kind(sent.planned.kind).errors += 1
            self._answer(sent, delivered.at)
            if sent.request is not None:
                self._finish(sent.request)  # a rejected YQ is not asked again
            return
        kind = sent.planned.kind
        if kind != "am" and message.dest not in (sent.planned.sender, sent.planned.answer_ori):
            return  # a copy for another agency: the NICS, the ICE field office, the SIB
        if kind.startswith("iaq"):
            self._iaq_output(sent, delivered)
        elif kind == "qw" and message.mke == "QR":
            self._answer(sent, delivered.at)
            nics = _NIC.findall(message.body)
            if nics:
                self._confirm_hit(sent, nics[0], delivered.at)
        elif kind == "yq" and message.mke == "YR":
            self._yr(sent, delivered)
        elif message.mke == ANSWER_MKE[kind] and delivered.line == sent.planned.answer_line:
            self._answer(sent, delivered.at)

    def _iaq_output(self, sent: Sent, delivered: Delivered) -> None:
        message = delivered.message
        if message.mke == "AM" and message.sender == LESC_ORI and LESC_ACK in message.body:
            if not sent.acknowledged:
                # With realistic timing the IAR comes minutes later: the acknowledgement's
                # latency is its own row.
                stats = self.report.kind(ACKNOWLEDGED)
                stats.answered += 1
                stats.record(delivered.at - sent.due)
            sent.acknowledged = True
        elif message.mke == "IAR" and _is_enhanced(message.body):
            self._enhanced(sent, delivered.at)
        elif message.mke == "IAR":
            # A biometric IAQ's acknowledgement and IAR come on two lines: no order between them.
            if not sent.acknowledged and sent.planned.answer_ori is None:
                self.report.violation(
                    "IAR without the LESC acknowledgement before it",
                    f"{delivered.line} *{message.control}",
                )
            if (self.options.wait_enhanced and ANNOUNCES_ENHANCED in message.body
                    and not sent.enhanced):
                sent.enhanced = "due"
                self._enhanced_due += 1
                self.report.kind(ENHANCED).sent += 1
            self._answer(sent, delivered.at)

    def _enhanced(self, sent: Sent, at: float) -> None:
        """An enhanced IAR: the one announced, or one that came unannounced (counted too)."""
        stats = self.report.kind(ENHANCED)
        if sent.enhanced == "due":
            self._enhanced_due -= 1
        elif not sent.enhanced:
            stats.sent += 1
        else:
            return  # a second one for the same IAQ: the first was the answer
        sent.enhanced = "done"
        stats.answered += 1
        stats.record(at - sent.due)

    def _confirm_hit(self, qw: Sent, nic: str, at: float) -> None:
        assert self._generator is not None
        hit = self._generator.hit_confirmation(qw.planned, nic)
        request = HitRequest(hit, qw.planned.control, first_at=at, last_at=at)
        self._requests.append(request)
        self._open_requests += 1
        self._send_yq(request, 1, at)

    def _send_yq(self, request: HitRequest, rno: int, at: float) -> None:
        assert self._generator is not None
        hit = request.hit
        # Derived from the QW's control, so the seed alone fixes every control field.
        control = f"Y{rno}{request.qw_control[2:]}"
        text = self._generator.yq(hit, rno, control)
        planned = Planned("yq", hit.line, hit.sender, control, text, hit.line, hit.subject)
        request.rno = rno
        request.last_at = at
        self._send(planned, at, request)

    def _yr(self, sent: Sent, delivered: Delivered) -> None:
        self._answer(sent, delivered.at)
        request = sent.request
        if request is None:
            return
        found = _STA.search(delivered.message.body)
        status = found.group(1) if found else "?"
        self.report.yr_status[status] += 1
        if request.answered_at is None:
            request.answered_at = delivered.at
            late = delivered.at - request.first_at - YR_DEADLINE[request.hit.priority]
            if late > 0:
                self.report.violation(
                    "late YR", f"NIC/{request.hit.nic} PRI/{request.hit.priority} {late:.1f} s late"
                )
        if status in FINAL_STATUS:
            self._finish(request)

    def _finish(self, request: HitRequest) -> None:
        """Mark a hit confirmation final: no more YQs, and nothing more to wait for."""
        if not request.final:
            request.final = True
            self._open_requests -= 1

    async def _escalate(self) -> None:
        """Ask again (RNO/2, then RNO/3) when no final YR came within ``yq_timeout``."""
        timeout = self.options.yq_timeout
        while True:
            await asyncio.sleep(min(0.25, timeout / 4))
            now = time.perf_counter()
            for request in self._requests:
                if not request.final and request.rno < 3 and now - request.last_at >= timeout:
                    self._send_yq(request, request.rno + 1, now)

    def _tally(self) -> None:
        report = self.report
        for line, link in self.links.items():
            counters = link.counters
            for expected, got in counters.gaps:
                report.violation("sequence gap", f"{line}: expected {expected}, got {got}")
            if counters.duplicates:
                report.violation("duplicate output", f"{line}: {counters.duplicates}")
            if counters.unreadable:
                report.violation("unreadable output", f"{line}: {counters.unreadable}")
            if counters.closed_by_gateway:
                report.violation("session closed by the gateway", line)
        for control, sent in self._pending.items():
            if not sent.answered:
                report.violation("no answer", f"{sent.planned.kind} *{control}")
            if sent.enhanced == "due":
                report.violation("no enhanced response", f"{sent.planned.kind} *{control}")
        now = self.report.elapsed + self._t0
        for request in self._requests:
            if not request.final:
                report.yr_status["(no final YR)"] += 1
            overdue = now - request.first_at - YR_DEADLINE[request.hit.priority]
            if request.answered_at is None and overdue > 0:
                report.violation("late YR", f"NIC/{request.hit.nic}: none after the deadline")

