"""The plugin interface: what a service declares, and what the switch lends it (SPEC.md §12).

A **pipeline** is a tuple of small steps run over one :class:`Exchange`. Like structlog's
processors or jPOS participants, each step does one thing (parse, validate, look up, answer)
and may end the run early; a step raises :class:`formats.errors.MessageError` to have the
switch answer with an ER.

A **service** (aiosmtpd style: everything it leaves out has a default) bundles what one
destination needs beyond its pipelines: the header destinations that reach it, the ORIs only
the gateway sends as for it, a runtime holding durable state and timers, and sub-commands of
``iaqgw``. The switch finds services in the ``iaqgw.services`` entry point group and bare
pipelines in ``iaqgw.pipelines`` (responders/registry.py); docs/plugins.md shows both.

The gateway imports nothing of a service but this module and responders/registry.py: it
never looks inside a service's state or the effects its pipelines describe.
"""

import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, NoReturn, Protocol

from formats.message import InputMessage
from routing.lines import LineRegistry
from routing.resolve import Destination

if TYPE_CHECKING:
    import typer

ANY_MKE: Final = "*"
# The service that answers a message to a line or an ORI on a line (responders/forward.py).
FORWARD: Final = "forward"
# How much of an exception's message the log and the audit trail keep.
SUMMARY_MAX: Final = 200


def summary(exc: BaseException) -> str:
    """``Type: message`` on one line, cut to SUMMARY_MAX characters (logs, audit trail)."""
    text = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
    return text[:SUMMARY_MAX]


def raised_at(exc: BaseException) -> str | None:
    """``file.py:line`` of the innermost frame the exception passed through."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else None


class Clock(Protocol):
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


# Reply and Origin are named tuples: as immutable as a frozen dataclass, built in a fifth of
# the time (a frozen dataclass sets each field through object.__setattr__), and every input
# makes one Origin and a Reply per output. On the hot path they are built by tuple.__new__
# from a tuple of their fields: a named tuple's own __new__ is a Python function, and costs
# 2,400 instructions where this costs 1,500.
class Reply(NamedTuple):
    """An output a pipeline produces: the switch adds the header, sequence and control."""

    mke: str
    sender: str
    dest: str
    body: str


@dataclass(slots=True)
class Exchange:
    """One input on its way through one pipeline, and the outputs it has caused so far.

    ``state`` is the runtime state of the service the exchange is in (None for a service
    without a runtime); ``effects`` are the changes to it the pipeline asks for, plain values
    the service defines, written by its runtime in the same transaction as the outputs.
    """

    message: InputMessage
    line: str
    destination: Destination
    received_at: datetime
    control_number: str
    lines: LineRegistry
    state: Any = None
    # What the pipeline's ``prepare`` read ahead for this input (Pipeline.prepare); None:
    # nothing, and the steps do that work themselves.
    prepared: Any = None
    fields: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    outputs: list[Reply] = field(default_factory=list)
    effects: list[object] = field(default_factory=list)
    done: bool = False

    @property
    def today(self) -> date:
        """The date the input entered the switch; field rules judge dates against it."""
        return self.received_at.date()

    def reply(self, mke: str, sender: str, body: str) -> None:
        """Answer the sender of the input."""
        self.outputs.append(tuple.__new__(Reply, (mke, sender, self.message.sender, body)))

    def send(self, mke: str, sender: str, dest: str, body: str) -> None:
        """Send an output to another ORI or line."""
        self.outputs.append(tuple.__new__(Reply, (mke, sender, dest, body)))


class Prepare(Protocol):
    """A pipeline's reading ahead for a batch (Pipeline.prepare)."""

    def __call__(self, state: Any, inputs: Sequence[tuple[InputMessage, date]]) -> Sequence[Any]:
        """One value for each (message, date of receipt), in order; None where it read
        nothing. ``state`` is the runtime's state, as an exchange gets it."""
        ...


class Step(Protocol):
    """One small stage of a pipeline."""

    def __call__(self, exchange: Exchange) -> None:
        """Act on the exchange; set ``exchange.done`` to end the run."""
        ...


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Steps that answer one service for a set of message keys (``ANY_MKE`` takes all).

    ``destinations`` are header destinations (mnemonics or ORIs) that reach ``service``: a
    pipeline of a service of its own brings them; one added to an existing service need not.

    ``prepare``, when given, reads ahead: the switch calls it once a batch with the messages
    of the inputs that reach the pipeline, before it answers any of them, and hands each
    exchange its value as ``exchange.prepared``. It may read only what no exchange changes
    (an index, a registry): the steps still run input by input and see what earlier inputs
    of the batch did. Where it gives None, or fails, the steps do the work themselves. The
    same work done for a batch at once runs on a warm interpreter: the IAQ's name search
    took less than half the time so (docs/benchmarks.md, round 27).
    """

    service: str
    accepts: frozenset[str]
    steps: Sequence[Step | Callable[[Exchange], None]]
    destinations: frozenset[str] = frozenset()
    prepare: Prepare | None = None

    def run(self, exchange: Exchange) -> list[Reply]:
        """Run the steps in order until one ends the exchange; return its outputs."""
        for step in self.steps:
            step(exchange)
            if exchange.done:
                break
        return exchange.outputs


class Origin(NamedTuple):
    """The input an output answers: its header line 2 and control field come from it."""

    input_id: int
    in_time: datetime
    in_seq: int
    control: str | None


@dataclass(frozen=True, slots=True)
class Emission:
    """Outputs no arriving input caused (a timer's), with the state changes that go with them."""

    origin: Origin
    replies: Sequence[Reply]
    effects: Sequence[object] = ()


# The databases a switch may lend (ServiceStore.dialect): its SQLite journal file, or the
# PostgreSQL database several instances share (docs/scale-out.md).
SQLITE: Final = "sqlite"
POSTGRESQL: Final = "postgresql"


class Cursor(Protocol):
    """What a statement gives back: the DB-API subset both stores' cursors have."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row (a tuple), or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows, one by one."""
        ...


class Connection(Protocol):
    """A connection for reads (``ServiceStore.reader``): it sees what is committed.

    SQL is written for SQLite with ``?`` placeholders; on PostgreSQL the store translates
    them, so the same statement runs on both where the SQL itself is common to both.
    """

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor:
        """Run one statement for each row."""
        ...


_COLUMNS_OF: Final = {
    SQLITE: "SELECT name FROM pragma_table_info(?)",
    POSTGRESQL: "SELECT column_name FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = ?",
}


def table_columns(db: Connection, table: str, dialect: str = SQLITE) -> frozenset[str]:
    """The columns a table of the store has (none when it has no such table)."""
    return frozenset(str(row[0]) for row in db.execute(_COLUMNS_OF[dialect], (table,)))


# Rows one INSERT statement carries at most (insert_rows), and the parameters: SQLite allowed a
# statement 999 before 3.32 (64 rows of up to 15 columns stay within them).
INSERT_ROWS: Final = 64
_MAX_PARAMETERS: Final = 999
# The statement for (the INSERT's head, its columns, its rows), made once.
_inserts: dict[tuple[str, int, int], str] = {}


def insert_rows(db: "Transaction | Connection", head: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (of equal length) with ``head`` (``INSERT INTO t (a, b)``):
    :data:`INSERT_ROWS` rows a statement (fewer for a row of more than 15 columns), the rest in
    statements of 32, 16 ... 1 rows.

    One statement for many rows, where ``executemany`` runs one for each: SQLite then ends,
    resets and binds a statement a row, which cost a journal row a fifth of its insert
    (docs/benchmarks.md, round 25). The sizes are powers of two, so a table's statements are
    a few, each prepared once and then taken from the connection's cache.
    """
    if not rows:
        return
    width = len(rows[0])
    most = min(INSERT_ROWS, max(1, _MAX_PARAMETERS // width))
    start = 0
    while start < len(rows):
        size = 1 << (min(len(rows) - start, most).bit_length() - 1)
        key = (head, width, size)
        sql = _inserts.get(key)
        if sql is None:
            values = "(" + ", ".join("?" * width) + ")"
            sql = _inserts[key] = f"{head} VALUES {', '.join([values] * size)}"
        db.execute(sql, list(chain.from_iterable(rows[start : start + size])))
        start += size


class Transaction(Protocol):
    """The switch's open transaction on its database; a service writes its effects through it."""

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        """Run one statement for each row."""
        ...


class ServiceStore(Protocol):
    """A service's window on the switch's database: its own tables, never the switch's.

    SQL stays in the service; the connection and the transaction are the switch's. The
    database is SQLite or PostgreSQL (``dialect``): ``?`` placeholders work on both, and
    ``schema`` takes SQLite's DDL and writes the PostgreSQL types for it (INTEGER: BIGINT,
    REAL: DOUBLE PRECISION, an INTEGER PRIMARY KEY: an identity column); where the SQL of
    the two must differ, a service asks ``dialect``.
    """

    @property
    def dialect(self) -> str:
        """:data:`SQLITE` or :data:`POSTGRESQL`."""
        ...

    def schema(self, ddl: str) -> None:
        """Create the service's tables (``CREATE ... IF NOT EXISTS``); run once at open."""
        ...

    def reader(self) -> Connection:
        """A connection for reads: it sees what is committed."""
        ...

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction of its own, for writes outside an exchange (an operator's command)."""
        ...


@dataclass(frozen=True, slots=True)
class Gauge:
    """A value a service reports for ``/metrics`` (a Prometheus gauge)."""

    name: str
    help: str
    value: float


class Nudge(Protocol):
    """Asks the scheduler to ask :meth:`ServiceRuntime.next_due` again: at once, or, given
    ``by`` (a due time a write brought), only when that comes before its next sweep."""

    def __call__(self, by: datetime | None = None) -> None:
        """Nudge the scheduler."""
        ...


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """What the switch lends a service's runtime, and nothing more.

    ``settings`` maps setting names to values given to the gateway (``serve`` flags, and
    values for services given in Python); a service reads its own with its own model, which
    also reads its ``IAQGW_*`` environment variables. ``emit`` journals outputs no input
    caused, with their effects, in one transaction, then delivers them; it raises when the
    journal refuses them. ``uncommitted`` gives the effects of the batch being answered that
    are not written yet, so a later input of the batch sees what an earlier one brought: a
    sequence that grows in place while the batch is answered, and a new one once effects it
    holds are dropped (the batch stored, an input aborted), so a runtime may keep what it read
    of it, by its identity, instead of reading it all for every input.
    ``nudge`` asks the scheduler to ask :meth:`ServiceRuntime.next_due` again (:class:`Nudge`).
    """

    name: str
    data_dir: Path
    settings: Mapping[str, Any]
    clock: Clock
    log: Any
    lines: LineRegistry
    line_of: Callable[[str], str | None]
    store: ServiceStore
    emit: Callable[[Sequence[Emission]], object]
    uncommitted: Callable[[], Sequence[object]]
    nudge: Nudge


class ServiceRuntime:
    """A service's state and timers while the gateway runs; every hook has a default.

    A service with durable state or timers subclasses this and overrides what it needs.
    """

    #: What the service's pipelines read through ``exchange.state``.
    state: Any = None

    def write(self, effects: Sequence[object], tx: Transaction) -> None:
        """Write effects inside the switch's transaction; raising rolls the transaction back."""
        if effects:
            raise TypeError(f"{type(self).__name__} stores no state: effects {effects[0]!r}")

    def next_due(self) -> datetime | None:
        """When the scheduler should next wake for this runtime (None: only when nudged)."""
        return None

    def due(self, now: datetime) -> int:
        """Take the timed actions due by ``now``; return how many were taken.

        Called each time the scheduler wakes (any runtime due, or a nudge), so it must be
        cheap when nothing is due. Outputs go out through ``ServiceContext.emit``.
        """
        return 0

    def gauges(self) -> Sequence[Gauge]:
        """Values for ``/metrics``, read on the event loop at each scrape."""
        return ()

    def close(self) -> None:
        """Release what :func:`Service.open` took."""


class CommandLine(Protocol):
    """What the ``iaqgw`` command line lends a service's sub-commands."""

    @property
    def app(self) -> "typer.Typer":
        """The ``iaqgw`` command: add commands and groups to it."""
        ...

    @property
    def data(self) -> "typer.Typer":
        """The ``iaqgw data`` group: commands that build a service's data."""
        ...

    @property
    def records_option(self) -> "typer.models.OptionInfo":
        """``iaqgw serve``'s ``--records`` (``Path | None``), for a command that takes it too."""
        ...

    @property
    def synthetic_records_option(self) -> "typer.models.OptionInfo":
        """``iaqgw serve``'s ``--synthetic-records`` (``int | None``), for a command that takes
        it too."""
        ...

    def settings(self, **flags: Any) -> Mapping[str, Any]:
        """The gateway's settings from these flags (None: not given), as a service reads them.

        Exits 2 with a one-line reason when one is unusable.
        """
        ...

    def store(
        self, data_dir: Path | None, *, read_only: bool = False, url: str | None = None
    ) -> AbstractContextManager[ServiceStore]:
        """The store of the PostgreSQL database at ``url`` (None: ``IAQGW_STORE``, if set),
        else of the journal under ``data_dir``; exits 1 when there is no journal there."""
        ...

    def fail(self, reason: str, code: int = 1) -> NoReturn:
        """Print ``iaqgw: reason`` and exit with ``code`` (1: the job failed, 2: bad usage)."""
        ...


@dataclass(frozen=True, slots=True)
class Service:
    """What one service brings to the switch; only ``name`` is required.

    ``destinations`` reach this service; ``sends_as`` are ORIs only the gateway sends as for
    it (a line presenting one is a security event); ``open`` makes its runtime at start
    (none: the :class:`ServiceRuntime` defaults); ``shares`` names another service whose
    runtime this one uses (its state, store and timers), so one distribution's services can
    read one index; ``cli`` adds sub-commands to ``iaqgw``.
    """

    name: str
    destinations: frozenset[str] = frozenset()
    sends_as: frozenset[str] = frozenset()
    pipelines: tuple[Pipeline, ...] = ()
    open: Callable[[ServiceContext], ServiceRuntime] | None = None
    shares: str | None = None
    cli: Callable[[CommandLine], None] | None = None
