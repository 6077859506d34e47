"""structlog set-up: JSON lines on stdout (SPEC.md §9) or console text, coloured on a terminal.

JSON lines written on the event loop are kept in memory and written together once per
loop iteration (docs/reliability.md, "Logs"): one write for every line of a batch instead of a
write and a flush each. Outside a running loop, and from ERROR up, a line is written at once.
"""

import asyncio
import atexit
import logging
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, Final, Literal, TextIO

import orjson
import structlog
from structlog.contextvars import merge_contextvars
from structlog.processors import format_exc_info
from structlog.typing import EventDict, WrappedLogger

LogFormat = Literal["json", "console"]
# A held INFO line (HeldLines): its event, its keys (the event's dict) and its ``ts``.
Held = tuple[str, dict[str, Any], str]


class UtcStamp:
    """The ``ts`` key as structlog's ISO UTC stamper writes it (``2026-12-02T05:07:40.075661Z``,
    no fraction when it is zero), with the date and time formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
        """Add ``ts`` to the event."""
        event_dict["ts"] = self.now()
        return event_dict

    def now(self) -> str:
        """The ``ts`` text of this moment."""
        second, fraction = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        # str().zfill rather than a format spec (06d): half the cost, on every line.
        return f"{self._prefix}.{str(fraction).zfill(6)}Z" if fraction else f"{self._prefix}Z"


class BufferedLines:
    """A structlog logger of rendered JSON lines: on the event loop, lines wait in memory until
    the loop's next iteration and are written with one write; otherwise, and from ERROR up,
    they are written at once. Whatever waits is written at exit (``atexit``).

    Lines wait as a copy in one buffer of ``capacity`` bytes, allocated once: a line is freed
    as soon as it is logged (orjson's bytes hold at least 4 KiB each, whatever their length,
    and thousands of them kept until the flush fragmented the C heap: the process's memory
    crept, docs/reliability.md). A full buffer is written before the line that does not fit.
    """

    def __init__(self, stream: BinaryIO, capacity: int = 256 * 1024) -> None:
        self._stream = stream
        self._buffer = bytearray(capacity)
        self._view = memoryview(self._buffer)
        self._used = 0
        # A thread without a loop (the metrics server, a paho callback) writes at once while
        # the loop's lines wait: the lock keeps a line added during a flush from being lost.
        self._lock = threading.Lock()
        # The loop a flush is scheduled on: one that stopped before running it does not count.
        self._scheduled: asyncio.AbstractEventLoop | None = None
        atexit.register(self.flush)

    def msg(self, message: bytes) -> None:
        """Write a line soon: at the end of this loop iteration, or now without a loop."""
        with self._lock:
            self._add(message)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._scheduled is not loop:
            self._scheduled = loop
            loop.call_soon(self.flush)

    def urgent(self, message: bytes) -> None:
        """Write a line now, after those waiting (ERROR and above: what a crash must not take)."""
        with self._lock:
            self._add(message)
            self._write()

    debug = info = warning = warn = log = msg
    error = err = critical = fatal = exception = failure = urgent

    def flush(self) -> None:
        """Write the waiting lines."""
        self._scheduled = None
        with self._lock:
            self._write()

    def _add(self, message: bytes) -> None:
        """Copy a line and its newline into the buffer, writing the buffer first when the line
        does not fit (the lock held); a line longer than the buffer is written as it is."""
        end = self._used + len(message) + 1
        if end > len(self._buffer):
            self._write()
            end = len(message) + 1
            if end > len(self._buffer):
                self._write_all(memoryview(message + b"\n"))
                return
        self._view[self._used:end - 1] = message
        self._buffer[end - 1] = 0x0A
        self._used = end

    def _write(self) -> None:
        """Write the buffer's lines (the lock held)."""
        if self._used:
            self._write_all(self._view[:self._used])
            self._used = 0

    def _write_all(self, data: memoryview) -> None:
        """Write ``data`` whole: an unbuffered stream (``python -u``) may take part of it."""
        try:
            while data:
                written = self._stream.write(data)
                data = data[written:]
            self._stream.flush()
        except ValueError:
            # The stream was closed under us (a test's capture, interpreter exit).
            pass


def _unserializable(value: object) -> object:
    """What JSONRenderer writes for a value JSON has no form for: its ``__structlog__()``,
    else its repr."""
    method = getattr(value, "__structlog__", None)
    return method() if callable(method) else repr(value)


# The ``ts`` of JSON lines: one stamp for the process, whose lines are one stream.
_STAMP: Final = UtcStamp()


def _json_lines(threshold: int) -> type[Any]:
    """structlog's filtering bound logger at ``threshold`` whose events skip the processor
    chain: each is rendered as the chain merge_contextvars, add_log_level, UtcStamp,
    format_exc_info and JSONRenderer(orjson) renders it (the same keys in the same order),
    inline, in half the time; ``info_held`` renders held lines (:class:`HeldLines`) and
    ``info_each`` lines of one moment (:func:`info_each`) together."""
    stamp = _STAMP
    now = stamp.now
    dumps = orjson.dumps

    def _proxy_to_logger(self: Any, method_name: str, event: str | None = None,
                         **event_kw: Any) -> Any:
        event_dict = {**self._context, **event_kw}
        if event is not None:
            event_dict["event"] = event
        merge_contextvars(None, method_name, event_dict)
        # The filtering logger calls this with its level names (error for exception).
        event_dict["level"] = method_name
        stamp(None, method_name, event_dict)
        if "exc_info" in event_dict:
            # log.exception: the traceback as text under ``exception``, not ``exc_info: true``.
            format_exc_info(None, method_name, event_dict)
        line = dumps(event_dict, default=_unserializable)
        return getattr(self._logger, method_name)(line)

    def info(self: Any, event: Any, *args: Any, **event_kw: Any) -> Any:
        # The per-message level: the filtering logger's info and _proxy_to_logger in one call.
        # event_kw is this call's own dict: without a bound context it is the event's.
        context = self._context
        event_dict = {**context, **event_kw} if context else event_kw
        if args:
            # As structlog interpolates: one non-empty mapping by name, else by position.
            one = args[0]
            event = event % (one if len(args) == 1 and isinstance(one, Mapping) and one
                                  else args)
        if event is not None:
            event_dict["event"] = event
        merge_contextvars(None, "info", event_dict)
        event_dict["level"] = "info"
        event_dict["ts"] = now()
        return self._logger.info(dumps(event_dict, default=_unserializable))

    def info_held(self: Any, rows: Iterable[Held]) -> None:
        # Lines stamped already: one context merge and one buffered write for them all.
        context = self._context
        merged: EventDict = {}
        merge_contextvars(None, "info", merged)
        # Copied as rendered, as BufferedLines copies a line: orjson's bytes are freed at once.
        block = bytearray()
        for event, keys, ts in rows:
            event_dict = {**context, **keys} if context else keys
            event_dict["event"] = event
            for key, value in merged.items():
                event_dict.setdefault(key, value)
            event_dict["level"] = "info"
            event_dict["ts"] = ts
            if block:
                block += b"\n"
            block += dumps(event_dict, default=_unserializable)
        if block:
            self._logger.info(block)

    def info_each(self: Any, event: str, rows: Iterable[dict[str, Any]]) -> None:
        # Lines of one moment: held lines with one stamp.
        ts = now()
        info_held(self, [(event, row, ts) for row in rows])

    base = structlog.make_filtering_bound_logger(threshold)
    methods: dict[str, Any] = {"_proxy_to_logger": _proxy_to_logger}
    if threshold <= logging.INFO:
        methods["info"] = info
        methods["info_held"] = info_held
        methods["info_each"] = info_each
    return type(f"JsonLines{base.__name__}", (base,), methods)


class HeldLines:
    """INFO lines held back and logged together by :meth:`write`, each stamped when it was
    held: the JSON-lines logger renders them with one context merge and writes them with one
    buffered write (any other logger, or the JSON one above INFO, logs each at the write).

    A holder writes what it holds before it logs any other line itself, so its lines keep
    their order and their ``ts`` the moment each event happened (the switch, for the
    ``message.accepted`` and ``message.rejected`` lines of a batch).
    """

    __slots__ = ("_log", "_now", "_rows")

    def __init__(self, log: Any) -> None:
        self._log = log
        self._rows: list[Held] = []
        self._now = _STAMP.now

    def info(self, event: str, **keys: Any) -> None:
        """Hold ``event`` with its keys, stamped now."""
        self._rows.append((event, keys, self._now()))

    def write(self) -> None:
        """Log the held lines, in the order held."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        held = getattr(self._log, "info_held", None)
        if held is not None:
            held(rows)
            return
        for event, keys, _ in rows:
            self._log.info(event, **keys)


def info_each(log: Any, event: str, rows: Iterable[dict[str, Any]]) -> None:
    """Log ``event`` at INFO once for each row of keys, as ``log.info(event, **row)`` each
    would, for lines of one moment (the outputs of one delivery): the JSON-lines logger gives
    them one ``ts`` and writes them together. A row's dict becomes its event's."""
    each = getattr(log, "info_each", None)
    if each is not None:
        each(event, rows)
        return
    for row in rows:
        log.info(event, **row)


def configure_logging(fmt: LogFormat = "json", level: str = "INFO", out: TextIO | None = None,
                      ) -> None:
    """Route structlog to ``out`` (stdout) as JSON lines (``ts``, ``level``, ``event`` …) or
    console text; console text has colour codes only when ``out`` is a terminal.

    Raises ValueError for a level that is not a logging level name.
    """
    threshold = logging.getLevelName(level.upper())
    if not isinstance(threshold, int):
        raise ValueError(f"{level!r} is not a log level: debug, info, warning, error or critical")
    stream = sys.stdout if out is None else out
    if fmt == "json":
        # One logger for the process: lines keep their order across every bound logger.
        lines = BufferedLines(stream.buffer)
        structlog.configure(
            # The chain _json_lines renders inline, for whatever reads the configuration.
            processors=[merge_contextvars, structlog.processors.add_log_level, _STAMP,
                        format_exc_info,
                        structlog.processors.JSONRenderer(serializer=orjson.dumps)],
            wrapper_class=_json_lines(threshold),
            logger_factory=lambda *args: lines,
            cache_logger_on_first_use=True,
        )
        return
    structlog.configure(
        processors=[merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
                    structlog.dev.ConsoleRenderer(colors=stream.isatty())],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


def get_logger() -> Any:
    """The gateway's logger."""
    return structlog.get_logger("iaqgw")
