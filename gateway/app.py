"""The gateway process: wires registries, journal, services, switch, delivery and the TCP server."""

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from gateway.bus import Bus, Homes, LocalBus, bus_address, parse_instances
from gateway.bus.leases import Leases
from gateway.bus.lines import BusLines
from gateway.bus.mqtt import MqttBus
from gateway.bus.store import BusStore
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.datafiles import load_lines, load_oris, reserved_oris
from gateway.delivery import Delivery, FlushSoon
from gateway.journal import Journal, PendingOutput
from gateway.lines import LineDesk
from gateway.logs import get_logger
from gateway.metrics import NO_HOOKS, GatewayMetrics, StateReader
from gateway.outputs import Outputs, line_render
from gateway.services import ServiceHost
from gateway.session import LineSession
from gateway.store import DATABASE_ERRORS
from gateway.switch import Switch
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
    """One running switch: builds its parts, each given what it uses, and runs them."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        log: Any = None,
        plugins: Sequence[Service | Pipeline] | None = None,
        on_store_lost: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        # What to do once the shared database's connection is gone (`iaqgw serve` exits at once).
        self._on_store_lost = on_store_lost
        self._store_lost = False
        self.clock = clock or SystemClock()
        self.log = log or get_logger()
        # The services and pipelines to run: the installed ones unless given.
        table = service_table(installed() if plugins is None else plugins)
        reserved = reserved_oris(table)
        self.lines = load_lines(settings.lines, reserved)
        self.oris = load_oris(settings.oris, self.lines.codes, reserved)
        self.router = Router(self.lines, self.oris, table.destinations, reserved)
        instances = parse_instances(settings.instance, settings.instances)
        broker = bus_address(settings.bus, instances)
        # Small shared pieces first, so that each part below gets its collaborators when it
        # is made: the homes, the journal and its flush, the counters, the bus's tables.
        homes = Homes(settings.instance, instances, self.lines.codes)
        self.journal = Journal(settings.journal_location, settings.instance, self._lost)
        # Instances sharing a store hold their homes by leases, so the homes of one that dies
        # pass to the others (docs/scale-out.md); without one, homes are fixed by the list.
        self._leases: Leases | None = None
        if broker is not None and settings.store is not None:
            try:
                self._leases = Leases(self.journal, homes, settings.lease_time, self.log)
            except BaseException:
                self.journal.close()
                raise
        # Acknowledgements and delivery records made durable once a loop iteration.
        self.flush_soon = flush_soon = FlushSoon(self.journal.flush)
        self.metrics = GatewayMetrics() if settings.metrics_port is not None else None
        hooks = self.metrics or NO_HOOKS
        # With a broker: the bus's tables, and the lines it reaches (delivery's remote lines).
        self._bus_store: BusStore | None = None
        bus_lines: BusLines | None = None
        # Each output is written in its destination line's format (text or Nlets XML).
        render = line_render(self.lines, settings.max_frame)
        try:
            if broker is not None:
                self._bus_store = BusStore(self.journal, settings.journal_location, homes, render)
                bus_lines = BusLines(homes, self._bus_store, self.journal, self.log)
            self.delivery = Delivery(
                self.journal, self.clock, self.log, flush_soon, settings.backlog_page,
                hooks=hooks, remote=bus_lines,
            )
            outputs = Outputs(self.journal, self._bus_store, render)
            self.services = ServiceHost(
                table,
                router=self.router,
                lines=self.lines,
                journal=self.journal,
                journal_path=settings.journal_location,
                outputs=outputs,
                delivery=self.delivery,
                clock=self.clock,
                log=self.log,
                data_dir=settings.data_dir,
                # The switch's values and those given for services; not the bus account's.
                settings=settings.model_dump(exclude={"bus_user", "bus_password"}),
            )
        except BaseException:
            self._close_stores()
            raise
        self.scheduler = self.services.scheduler
        self.switch = Switch(
            router=self.router,
            services=self.services,
            lines=self.lines,
            journal=self.journal,
            outputs=outputs,
            clock=self.clock,
            in_service=self.delivery.in_service,
            log=self.log,
            hooks=hooks,
        )
        self._outputs = outputs
        self.desk = LineDesk(
            settings,
            lines=self.lines,
            homes=homes,
            journal=self.journal,
            switch=self.switch,
            delivery=self.delivery,
            flush_soon=flush_soon,
            clock=self.clock,
            log=self.log,
        )
        self.bus: Bus = LocalBus()
        if broker is not None and self._bus_store is not None and bus_lines is not None:
            self.bus = MqttBus(
                broker,
                settings=settings,
                homes=homes,
                lines=bus_lines,
                store=self._bus_store,
                inputs=self.desk,
                deliver=self.delivery.deliver,
                log=self.log,
            )
            if self._leases is not None:
                # The outbox first: its outputs are older than those of unanswered inputs.
                self._leases.on_change(self.bus.homes_moved)
                self._leases.on_change(bus_lines.homes_moved)
                self._leases.on_change(self._homes_moved)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._stopped = False
        self.metrics_port: int | None = None

    def _homes_moved(self, gained: list[str], lost: list[str]) -> None:
        """Answer what a dead instance left unanswered, once this one has claimed it
        (gateway/bus/leases.py)."""
        self.switch.recover()

    def _lost(self, reason: str) -> None:
        """The shared database's connection is gone: say so once, then ``on_store_lost``.

        Nothing more can be journaled on it, so nothing more is accepted; the supervisor's
        restart connects again and answers what stayed unanswered (docs/reliability.md).
        """
        if not self._store_lost:
            self._store_lost = True
            self.log.critical("store.lost", error=reason,
                              detail="the database connection is lost: exiting to be restarted")
        if self._on_store_lost is not None:
            self._on_store_lost()

    def _close_stores(self) -> None:
        if self._bus_store is not None:
            self._bus_store.close()
        self.journal.close()

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
        self.journal.checkpoint_apart(self.log)
        if self._leases is not None:
            await self._leases.start()
        await self.bus.start()
        self._server = await asyncio.get_running_loop().create_server(
            lambda: LineSession(self.desk),
            self.settings.host,
            self.settings.port,
            ssl=server_tls_context(self.settings),
        )
        self._sweeper = asyncio.create_task(self._sweep())
        self._timer_task = asyncio.create_task(self.scheduler.run())
        if self.metrics is not None and self.settings.metrics_port is not None:
            state = StateReader(self.journal, self.lines.codes, self.desk.sessions,
                                self.services.gauges)
            self.metrics_port = self.metrics.serve(
                self.settings.host, self.settings.metrics_port, state
            )
        self.log.info(
            "gateway.started",
            host=self.settings.host,
            port=self.port,
            lines=len(self.lines),
            oris=len(self.oris),
            metrics_port=self.metrics_port,
        )

    async def _sweep(self) -> None:
        period = self.desk.sweep_period()
        while True:
            await asyncio.sleep(period)
            self.desk.sweep(self.desk.loop_time())
            # A lost connection shows at the next use; an idle gateway would not use it. (A
            # lost one is told to _lost; another fault is the next batch's to meet.)
            with contextlib.suppress(*DATABASE_ERRORS):
                self.journal.ping()

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
        # Inputs read in the iteration that stopped are answered before the lines are told.
        self.desk.answer_waiting()
        self._announce_shutdown()
        for session in list(self.desk.sessions):
            session.close("shutdown")
        await self._drain_sessions()
        if self._server is not None:
            await self._server.wait_closed()
        if self.metrics is not None:
            self.metrics.close()
        await self.bus.stop()
        if self._leases is not None:
            await self._leases.stop()
        self.services.close()
        self._close_stores()
        self.log.info("gateway.stopped")

    def _announce_shutdown(self) -> None:
        """Tell every signed-on line, with a stored and numbered SM, that the switch goes down."""
        now = self.clock.now()
        pending = []
        for session in self.desk.sessions:
            line = self.lines.get(session.line) if session.line and not session.closed else None
            if line is not None:
                pending.append(
                    PendingOutput(line.code, None, "SM", SWITCH_ORI, line.control_ori, None,
                                  SM_SHUTDOWN, now, 0, now)
                )
        self.log.info("gateway.stopping", lines=len(pending))
        if pending:
            self.delivery.deliver(self._outputs.store([], pending))

    async def _drain_sessions(self) -> None:
        """Give closing sessions up to ``shutdown_grace`` seconds to take their last frames."""
        deadline = self.desk.loop_time() + self.settings.shutdown_grace
        while self.desk.sessions and self.desk.loop_time() < deadline:
            await asyncio.sleep(0.02)

    async def serve_forever(self) -> None:
        """Run until cancelled or a signal stops the loop."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
