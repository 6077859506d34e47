"""The gateway process: wires registries, index, journal, switch, delivery and the TCP server."""

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from gateway.bus import make_bus
from gateway.casebook import Casebook
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.datafiles import load_lines, load_oris, nics_copies_to, open_index
from gateway.deadlines import Deadlines, Emission
from gateway.delivery import Delivery
from gateway.journal import Journal, PendingOutput, StoredOutput
from gateway.logs import get_logger
from gateway.metrics import GatewayMetrics
from gateway.session import LineSession
from gateway.switch import Switch
from gateway.technician import SimulatedTechnician, TechnicianDelay
from gateway.throttle import SignonThrottle
from responders.base import Services
from responders.registry import load_pipelines
from routing.lines import is_plain_key
from routing.resolve import Router
from routing.services import SWITCH_ORI

# The SM a line gets when the switch is stopped in order (SIGTERM); docs/reliability.md.
SM_SHUTDOWN = (
    "SWITCH GOING OUT OF SERVICE - ORDERLY SHUTDOWN\n"
    "TRAFFIC FOR THIS LINE IS HELD AND SENT AFTER THE NEXT SIGNON"
)


def server_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS 1.2+ when a certificate is configured; client certificates required with a CA."""
    if settings.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_ca is not None:
        context.load_verify_locations(settings.tls_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class Gateway:
    """One running switch."""

    def __init__(self, settings: Settings, clock: Clock | None = None, log: Any = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.log = log or get_logger()
        self.lines = load_lines(settings.lines)
        self.oris = load_oris(settings.oris, self.lines.codes)
        self.router = Router(self.lines, self.oris)
        nics_ori = nics_copies_to(settings, self.lines, self.router.line_of, self.log)
        self.index = open_index(settings.index_path, settings.records, settings.synthetic_records)
        self.journal = Journal(settings.journal_path)
        self.delivery = Delivery(
            self.journal, self.clock, self.log, self.schedule_flush, settings.backlog_page
        )
        # The LESC's cases and detainers live in the journal file (docs/lesc.md).
        self.casebook = Casebook(
            settings.journal_path,
            clock=self.clock,
            margins={
                "U": timedelta(seconds=settings.hit_margin_urgent),
                "R": timedelta(seconds=settings.hit_margin_routine),
            },
            technician_delay=TechnicianDelay(
                settings.technician_delay,
                settings.technician_delay_mean,
                settings.technician_delay_max,
            ).draw,
            nics_ori=nics_ori,
            log=self.log,
        )
        services = Services(index=self.index, lines=self.lines, desk=self.casebook)
        self.switch = Switch(
            router=self.router,
            pipelines=load_pipelines(),
            services=services,
            journal=self.journal,
            clock=self.clock,
            is_signed_on=self.in_service,
            log=self.log,
            record_effects=self.casebook.write,
        )
        self.deadlines = Deadlines(
            casebook=self.casebook,
            services=services,
            technician=SimulatedTechnician(services),
            clock=self.clock,
            emit=self.emit,
            poll=settings.queue_poll,
            log=self.log,
        )
        self.casebook.on_write = self.deadlines.nudge
        self.casebook.uncommitted = self.switch.uncommitted
        # After journal, delivery and switch: the MQTT bus hooks into all three.
        self.bus = make_bus(self)
        self.sessions: set[LineSession] = set()
        self.verified_keys: set[bytes] = set()
        self.throttle = SignonThrottle(
            # On the gateway's clock, so a test moves a ManualClock past a lockout.
            settings.signon_max_failures, settings.signon_lockout,
            lambda: self.clock.now().timestamp(),
        )
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._deadline_task: asyncio.Task[None] | None = None
        self._stopped = False
        self._flush_pending = False
        self.metrics: GatewayMetrics | None = None
        self.metrics_port: int | None = None
        if settings.metrics_port is not None:
            self.metrics = GatewayMetrics(self)
            self.switch.hooks = self.delivery.hooks = self.metrics

    def in_service(self, line: str) -> bool:
        """Whether the line takes outputs now: a session here, over MQTT or on another home."""
        return self.delivery.is_signed_on(line) or self.bus.in_service(line)

    def emit(self, emissions: Sequence[Emission]) -> list[StoredOutput]:
        """Journal, then deliver, outputs no arriving input caused, with the state they change.

        The one path out for the LESC's timed actions: PENDING YRs at a deadline, the
        simulated technician's and the operator's answers.
        """
        pending = [
            output
            for origin, replies, _ in emissions
            for output in self.switch.emit(origin, replies)
        ]
        effects = [effect for _, _, changes in emissions for effect in changes]
        stored = self.journal.store_outputs(
            (), pending, also=partial(self.casebook.write, effects)
        )
        self.delivery.deliver(stored)
        return stored

    def loop_time(self) -> float:
        """Monotonic time for session timers."""
        return asyncio.get_running_loop().time()

    def schedule_flush(self) -> None:
        """Make acknowledgements durable at the end of this loop iteration, once."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        self.journal.flush()

    @property
    def port(self) -> int:
        """The port the server listens on (useful with port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Answer what a crash left unanswered, then listen."""
        if any(is_plain_key(line.key_hash) for line in self.lines):
            self.log.warning("config.plain_keys", detail="line registry holds plain keys")
        if self.settings.lines is None:
            self.log.warning("config.dev_keys", detail="development line keys DEV-<LINE> in use")
        self.switch.recover()
        await self.bus.start()
        self._server = await asyncio.get_running_loop().create_server(
            lambda: LineSession(self),
            self.settings.host,
            self.settings.port,
            ssl=server_tls_context(self.settings),
        )
        self._sweeper = asyncio.create_task(self._sweep())
        self._deadline_task = asyncio.create_task(self.deadlines.run())
        if self.metrics is not None and self.settings.metrics_port is not None:
            self.metrics_port = self.metrics.serve(self.settings.host, self.settings.metrics_port)
        self.log.info(
            "gateway.started",
            host=self.settings.host,
            port=self.port,
            records=len(self.index),
            lines=len(self.lines),
            oris=len(self.oris),
            metrics_port=self.metrics_port,
        )

    async def _sweep(self) -> None:
        s = self.settings
        period = min(1.0, s.signon_timeout / 4, s.idle_timeout / 4, s.heartbeat_interval / 4)
        while True:
            await asyncio.sleep(period)
            now = self.loop_time()
            for session in list(self.sessions):
                if session.line is None:
                    if now - session.opened_at > s.signon_timeout:
                        session.close("no signon in time")
                elif now - session.last_rx > s.idle_timeout:
                    session.close("idle")
                elif now - session.last_rx > s.heartbeat_interval and not session.hb_outstanding:
                    session.send_heartbeat()

    async def stop(self) -> None:
        """Stop listening, close every session and the journal (once)."""
        if self._stopped:
            return
        self._stopped = True
        for task in (self._sweeper, self._deadline_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            self._server.close()
        self._announce_shutdown()
        for session in list(self.sessions):
            session.close("shutdown")
        await self._drain_sessions()
        if self._server is not None:
            await self._server.wait_closed()
        if self.metrics is not None:
            self.metrics.close()
        await self.bus.stop()
        self.journal.close()
        self.casebook.close()
        self.index.close()
        self.log.info("gateway.stopped")

    def _announce_shutdown(self) -> None:
        """Tell every signed-on line, with a stored and numbered SM, that the switch goes down."""
        now = self.clock.now()
        pending = []
        for session in self.sessions:
            line = self.lines.get(session.line) if session.line and not session.closed else None
            if line is not None:
                pending.append(
                    PendingOutput(line.code, None, "SM", SWITCH_ORI, line.control_ori, None,
                                  SM_SHUTDOWN, now, 0, now)
                )
        self.log.info("gateway.stopping", lines=len(pending))
        if pending:
            self.delivery.deliver(self.journal.store_outputs([], pending))

    async def _drain_sessions(self) -> None:
        """Give closing sessions up to ``shutdown_grace`` seconds to take their last frames."""
        deadline = self.loop_time() + self.settings.shutdown_grace
        while self.sessions and self.loop_time() < deadline:
            await asyncio.sleep(0.02)

    async def serve_forever(self) -> None:
        """Run until cancelled or a signal stops the loop."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
