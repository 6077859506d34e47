"""The services while the gateway runs: their runtimes, what the switch lends them, their timers.

The host opens each service's runtime with a :class:`responders.base.ServiceContext`, hands
the switch the state and pipelines an exchange needs, writes each service's effects through
its runtime inside the switch's transaction, and is the one path out for outputs no input
caused (``emit``). It knows services only through responders.base: never their state or
their effects.
"""

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from gateway.delivery import Delivery
from gateway.journal import Journal, NumberedOutput
from gateway.outputs import Outputs, pending_output
from gateway.scheduler import Scheduler
from gateway.store import Location, Store, Transaction
from responders.base import (
    Clock,
    Emission,
    Gauge,
    Pipeline,
    ServiceContext,
    ServiceRuntime,
    summary,
)
from responders.registry import ServiceTable
from routing.lines import LineRegistry
from routing.resolve import Router

_OWNER = itemgetter(0)
_EFFECT = itemgetter(1)


class Answering(NamedTuple):
    """What answers a key at a service (:meth:`ServiceHost.answering`)."""

    pipeline: Pipeline
    runtime: ServiceRuntime
    owner: str  # the service whose runtime it is (a service may share another's)


class Batch:
    """State changes of the batch the switch is answering, by the service whose runtime owns
    them; written with the batch's outputs, and read before that by later inputs of the batch.
    """

    __slots__ = ("_viewed", "_views", "effects")

    def __init__(self) -> None:
        # Appended to by the switch; what is dropped goes through drop() or clear().
        self.effects: list[tuple[str, object]] = []
        # Each runtime's effects, brought up to date from ``effects`` when read: lists that
        # only grow until effects they hold are dropped, when new ones are made, so a reader
        # may index what it has read of one by its identity (ServiceContext.uncommitted), and
        # reading them costs an input what it adds, not the batch's length.
        self._views: dict[str, list[object]] = {}
        self._viewed = 0

    def of(self, owner: str) -> Sequence[object]:
        """The effects of one runtime, in the order the exchanges brought them."""
        views = self._views
        for name, effect in self.effects[self._viewed:]:
            view = views.get(name)
            if view is None:
                views[name] = view = []
            view.append(effect)
        self._viewed = len(self.effects)
        return views.setdefault(owner, [])

    def drop(self, start: int) -> None:
        """Drop the effects from ``start`` on (an aborted input's, or all of them)."""
        del self.effects[start:]
        # Views that held a dropped effect are made anew; views of what stays stay.
        if start < self._viewed:
            self._views = {}
            self._viewed = 0

    def clear(self) -> None:
        """Drop every effect: the batch is stored, or given up."""
        self.drop(0)


class ServiceHost:
    """Every service's runtime, opened in the order the table lists them."""

    def __init__(
        self,
        table: ServiceTable,
        *,
        router: Router,
        lines: LineRegistry,
        journal: Journal,
        journal_path: Location,
        outputs: Outputs,
        delivery: Delivery,
        clock: Clock,
        log: Any,
        data_dir: Path,
        settings: Mapping[str, Any],
    ) -> None:
        self._table = table
        self.batch = Batch()
        self.scheduler = Scheduler(clock, log)
        self._router = router
        self._journal = journal
        self._outputs = outputs
        self._delivery = delivery
        self._clock = clock
        self._log = log
        self._stores: list[Store] = []
        self._runtimes: dict[str, ServiceRuntime] = {}
        self._answering: dict[tuple[str, str], Answering] = {}
        try:
            for name, service in table.services.items():
                if table.owners[name] != name:
                    continue
                store = Store(journal_path, journal.transaction, journal.schema)
                self._stores.append(store)
                context = ServiceContext(
                    name=name,
                    data_dir=data_dir,
                    settings=settings,
                    clock=clock,
                    log=log,
                    lines=lines,
                    line_of=router.line_of,
                    store=store,
                    emit=partial(self.emit, name),
                    uncommitted=partial(self.batch.of, name),
                    nudge=self.scheduler.nudge,
                )
                runtime = service.open(context) if service.open else ServiceRuntime()
                self._runtimes[name] = runtime
                self.scheduler.add(name, runtime)
        except BaseException:
            self.close()
            raise

    def runtime(self, service: str) -> ServiceRuntime:
        """The runtime a service's exchanges use (its own, or the one it shares)."""
        return self._runtimes[self._table.owners[service]]

    def answering(self, service: str, mke: str) -> Answering | None:
        """What answers ``mke`` at ``service``: the pipeline, the runtime its exchanges use and
        the name of the service that owns it; None when no pipeline takes the key."""
        # Asked for every exchange; the table never changes while the host lives. Keys are
        # the grammar's (two or three letters): those a pipeline takes are kept.
        found = self._answering.get((service, mke))
        if found is None:
            pipeline = self._table.find(service, mke)
            if pipeline is None:
                return None
            owner = self._table.owners[service]
            found = self._answering[(service, mke)] = Answering(
                pipeline, self._runtimes[owner], owner)
        return found

    def write(self, effects: Iterable[tuple[str, object]], tx: Transaction) -> None:
        """Write effects, each through its owner's runtime, inside the open transaction."""
        grouped: dict[str, list[object]] = {}
        # The effects come in runs of one owner (an exchange's, most often the whole batch's):
        # each run is moved over whole, not effect by effect.
        for owner, run in groupby(effects, key=_OWNER):
            grouped.setdefault(owner, []).extend(map(_EFFECT, run))
        for owner, changes in grouped.items():
            self._runtimes[owner].write(changes, tx)

    def emit(self, owner: str, emissions: Sequence[Emission]) -> list[NumberedOutput]:
        """Journal, then deliver, outputs no arriving input caused, with the state they change.

        Header line 2 and the control field of each output are those of its origin. Raises,
        storing nothing, when an output has no line or the runtime refuses the effects.
        """
        now = self._clock.now()
        pending = [
            pending_output(self._router, emission.origin, now, reply)
            for emission in emissions
            for reply in emission.replies
        ]
        effects = [effect for emission in emissions for effect in emission.effects]
        with self._journal.transaction() as tx:
            self._runtimes[owner].write(effects, tx)
            stored = self._outputs.store((), pending)
        self._delivery.deliver(stored)
        return stored

    def gauges(self) -> list[Gauge]:
        """Every runtime's gauges; a runtime that cannot give them is left out and logged."""
        gauges: list[Gauge] = []
        for name, runtime in self._runtimes.items():
            try:
                gauges.extend(runtime.gauges())
            except Exception as exc:
                self._log.error("service.gauges_failed", service=name, error=summary(exc))
        return gauges

    def close(self) -> None:
        """Close every runtime, then the stores' connections."""
        for name, runtime in self._runtimes.items():
            try:
                runtime.close()
            except Exception as exc:
                self._log.error("service.close_failed", service=name, error=summary(exc))
        for store in self._stores:
            store.close()
