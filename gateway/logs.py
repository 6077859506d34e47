"""structlog set-up: JSON lines on stdout (SPEC.md §9) or console text, coloured on a terminal."""

import logging
import sys
from typing import Any, Literal, TextIO

import orjson
import structlog

LogFormat = Literal["json", "console"]


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
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    if fmt == "json":
        processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
        factory: Any = structlog.BytesLoggerFactory(stream.buffer)
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=stream.isatty()))
        factory = structlog.PrintLoggerFactory(stream)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


def get_logger() -> Any:
    """The gateway's logger."""
    return structlog.get_logger("iaqgw")
