"""The gateway process: wires registries, journal, services, switch, delivery and the TCP server."""

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any

from gateway.bus import make_bus
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.datafiles import load_lines, load_oris, reserved_oris
from gateway.delivery import Delivery
from gateway.journal import Journal, PendingOutput
from gateway.logs import get_logger
from gateway.metrics import GatewayMetrics
from gateway.services import ServiceHost
from gateway.session import LineSession
from gateway.switch import Switch
from gateway.throttle import SignonThrottle
from responders.base import Pipeline, Service
from responders.registry import installed, service_table
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

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        log: Any = None,
        plugins: Sequence[Service | Pipeline] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.log = log or get_logger()
        # The services and pipelines to run: the installed ones unless given.
        table = service_table(installed() if plugins is None else plugins)
        reserved = reserved_oris(table)
        self.lines = load_lines(settings.lines, reserved)
        self.oris = load_oris(settings.oris, self.lines.codes, reserved)
        self.router = Router(self.lines, self.oris, table.destinations, reserved)
        self.journal = Journal(settings.journal_path)
        self.delivery = Delivery(
            self.journal, self.clock, self.log, self.schedule_flush, settings.backlog_page
        )
        try:
            self.services = ServiceHost(
                table,
                router=self.router,
                lines=self.lines,
                journal=self.journal,
                journal_path=settings.journal_path,
                delivery=self.delivery,
                clock=self.clock,
                log=self.log,
                data_dir=settings.data_dir,
                # The switch's values and those given for services; not the bus account's.
                settings=settings.model_dump(exclude={"bus_user", "bus_password"}),
            )
        except BaseException:
            self.journal.close()
            raise
        self.scheduler = self.services.scheduler
        self.switch = Switch(
            router=self.router,
            services=self.services,
            lines=self.lines,
            journal=self.journal,
            clock=self.clock,
            is_signed_on=self.in_service,
            log=self.log,
        )
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
        self._timer_task: asyncio.Task[None] | None = None
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
        self._timer_task = asyncio.create_task(self.scheduler.run())
        if self.metrics is not None and self.settings.metrics_port is not None:
            self.metrics_port = self.metrics.serve(self.settings.host, self.settings.metrics_port)
        self.log.info(
            "gateway.started",
            host=self.settings.host,
            port=self.port,
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
        for task in (self._sweeper, self._timer_task):
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
        self.services.close()
        self.journal.close()
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
