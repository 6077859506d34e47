"""``iaqgw tail``: follow the gateway's JSON log, filter it, show it in aligned coloured columns."""

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any, Final

import orjson
from rich.console import Console
from rich.text import Text

from formats.times import TimeError, parse_iso

LEVELS: Final = ("debug", "info", "warning", "error", "critical")
LEVEL_STYLE: Final = {
    "debug": "dim", "info": "green", "warning": "yellow", "error": "bold red",
    "critical": "bold white on red",
}  # fmt: skip
POLL_SECONDS = 0.2
# (title, width) of the columns; the last column takes what is left. A value longer than
# its column is shown whole and pushes the rest of its row along; the event column is as
# wide as the longest event the gateway logs (security.signon_rejected).
COLUMNS: Final = (
    ("time", 12), ("level", 8), ("event", 24), ("line", 4), ("ori", 9), ("mke", 3),
    ("seq", 13), ("latency", 10), ("error", 5),
)  # fmt: skip
# Keys shown in their own columns (or not at all); any other key goes into the last column.
_SHOWN = frozenset({"ts", "level", "event", "line", "ori", "mke", "in_seq", "out_seq",
                    "latency_ms", "error_code", "logger"})


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except TimeError:
        return None


@dataclass(frozen=True, slots=True)
class Filters:
    """Which log lines to show; a filter left as None lets everything through."""

    ori: str | None = None  # glob on ori or dest
    mke: frozenset[str] | None = None
    event: str | None = None  # glob
    level: str | None = None  # the lowest level shown
    since: datetime | None = None

    @property
    def any(self) -> bool:
        """Whether any filter is set."""
        return any(value is not None for value in (self.ori, self.mke, self.event, self.level,
                                                    self.since))

    def match(self, entry: dict[str, Any]) -> bool:
        """Whether a parsed log line passes every filter."""
        if self.level is not None:
            level = str(entry.get("level", "")).lower()
            if level not in LEVELS or LEVELS.index(level) < LEVELS.index(self.level):
                return False
        if self.event is not None and not fnmatchcase(str(entry.get("event", "")), self.event):
            return False
        if self.mke is not None and str(entry.get("mke", "")).upper() not in self.mke:
            return False
        if self.ori is not None and not any(
            isinstance(entry.get(key), str) and fnmatchcase(entry[key], self.ori)
            for key in ("ori", "dest")
        ):
            return False
        if self.since is not None:
            moment = _timestamp(entry.get("ts"))
            if moment is None or moment < self.since:
                return False
        return True


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def render(entry: dict[str, Any]) -> Text:
    """One log line as aligned, coloured columns."""
    moment = _timestamp(entry.get("ts"))
    level = str(entry.get("level", "")).lower()
    seq = " ".join(
        f"{name}{entry[key]}" for name, key in (("in", "in_seq"), ("out", "out_seq"))
        if entry.get(key) is not None
    )
    latency = entry.get("latency_ms")
    values = (
        moment.strftime("%H:%M:%S.%f")[:12] if moment else _cell(entry.get("ts")),
        level,
        _cell(entry.get("event")),
        _cell(entry.get("line")),
        _cell(entry.get("ori")),
        _cell(entry.get("mke")),
        seq,
        f"{latency:.2f}ms" if isinstance(latency, int | float) else "",
        _cell(entry.get("error_code")),
    )
    styles = ("cyan", LEVEL_STYLE.get(level, ""), "bold", "magenta", "blue", "bold", "dim",
              "", "bold red")
    text = Text()
    for (_, width), value, style in zip(COLUMNS, values, styles, strict=True):
        text.append(value.ljust(width) + " ", style=style)
    # Echoed message text holds line breaks; one log line stays one screen line.
    rest = " ".join(
        f"{key}={value}".replace("\r", "").replace("\n", "\\n")
        for key, value in entry.items() if key not in _SHOWN
    )
    text.append(rest, style="dim")
    return text


def header() -> Text:
    """The column titles."""
    return Text(" ".join(title.ljust(width) for title, width in COLUMNS) + " detail",
                style="bold underline")


def _pause() -> bool:
    time.sleep(POLL_SECONDS)
    return True


def follow_lines(path: Path, follow: bool, idle: Callable[[], bool] = _pause,
                 ) -> Iterator[bytes]:
    """Lines of a file; with ``follow``, wait for more and reopen it when it is rotated
    (replaced or truncated), like ``tail -F``.

    ``idle`` is called whenever there is nothing new to read: it waits (a poll interval by
    default) and returns False to stop following.
    """
    handle: IO[bytes] | None = None
    identity: tuple[int, int] | None = None
    pending = b""
    try:
        while True:
            if handle is None:
                try:
                    handle = path.open("rb")
                except FileNotFoundError:
                    if not follow:
                        raise
                    if not idle():
                        return
                    continue
                status = os.fstat(handle.fileno())
                identity = (status.st_dev, status.st_ino)
            chunk = handle.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    yield pending
                    pending = b""
                continue
            if not follow or not idle():
                if pending:
                    yield pending
                return
            try:
                status = os.stat(path)
            except FileNotFoundError:
                continue  # rotated away; the new file appears soon
            if (status.st_dev, status.st_ino) != identity or status.st_size < handle.tell():
                # Rotated or truncated: what is left of the old file has been read.
                handle.close()
                handle = None
                pending = b""
    finally:
        if handle is not None:
            handle.close()


def tail(lines: Iterator[bytes], filters: Filters, as_json: bool, console: Console,
         out: IO[bytes]) -> int:
    """Show the lines that pass the filters; returns how many were shown."""
    shown = 0
    if not as_json:
        console.print(header(), soft_wrap=True)
    for raw in lines:
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            entry = None
        if not isinstance(entry, dict):
            # A line that is not a log object can only pass when nothing is filtered.
            if filters.any or as_json or not raw.strip():
                continue
            console.print(Text(raw.decode(errors="replace").rstrip("\r\n"), style="dim"))
            shown += 1
            continue
        if not filters.match(entry):
            continue
        shown += 1
        if as_json:
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
            out.flush()
        else:
            console.print(render(entry), soft_wrap=True)
    return shown
