"""The traffic record: JSON lines, one per message sent or received (docs/simulator.md).

The first line describes the run (``"ev": "run"``); then ``"ev": "send"`` lines carry the
input text a line sent and ``"ev": "recv"`` lines the output text a line received with its full
sequence number; ``t`` is seconds since the start of the run. The last line
(``"ev": "end"``) closes a complete record.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

FORMAT_VERSION = 1


class RecordError(ValueError):
    """A record file that cannot be read; the message names the line."""


class Recorder:
    """Writes a traffic record as the run goes."""

    def __init__(self, path: Path, run: dict[str, Any]) -> None:
        self._handle: IO[bytes] = path.open("wb")
        self._write({"ev": "run", "version": FORMAT_VERSION, **run})

    def _write(self, item: dict[str, Any]) -> None:
        self._handle.write(orjson.dumps(item) + b"\n")

    def send(self, t: float, line: str, kind: str, text: str) -> None:
        """An input a line sent."""
        self._write({"t": round(t, 6), "ev": "send", "line": line, "kind": kind, "text": text})

    def recv(self, t: float, line: str, seq: int, text: str) -> None:
        """An output a line received."""
        self._write({"t": round(t, 6), "ev": "recv", "line": line, "seq": seq, "text": text})

    def close(self, t: float, **totals: Any) -> None:
        """Write the closing line and close the file."""
        self._write({"t": round(t, 6), "ev": "end", **totals})
        self._handle.close()


@dataclass(frozen=True, slots=True)
class Event:
    """One sent or received message of a record."""

    t: float
    ev: str  # "send" or "recv"
    line: str
    text: str
    kind: str | None = None
    seq: int | None = None


@dataclass(slots=True)
class TrafficRecord:
    """A record read back: the run's description and its messages in file order."""

    run: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    complete: bool = False

    @property
    def sent(self) -> list[Event]:
        """The inputs, in the order they were sent."""
        return [event for event in self.events if event.ev == "send"]

    @property
    def received(self) -> list[Event]:
        """The outputs, in the order they arrived."""
        return [event for event in self.events if event.ev == "recv"]

    @property
    def lines(self) -> list[str]:
        """Every line that sent or received, plus the lines the run signed on."""
        found = dict.fromkeys(self.run.get("lines", []))
        found.update(dict.fromkeys(event.line for event in self.events))
        return list(found)


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(handle, 1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"line {number}: not JSON ({exc})") from None
        if not isinstance(item, dict):
            raise RecordError(f"line {number}: not a JSON object")
        yield number, item


def read_record(path: Path) -> TrafficRecord:
    """Read a record file; raises RecordError naming the first bad line, OSError if unreadable."""
    with path.open("rb") as handle:
        items = _lines(handle)
        first = next(items, None)
        if first is None or first[1].get("ev") != "run":
            raise RecordError("line 1: a record starts with the run line ({\"ev\": \"run\"})")
        if first[1].get("version") != FORMAT_VERSION:
            raise RecordError(f"line 1: version {first[1].get('version')!r} is not "
                              f"{FORMAT_VERSION}")
        record = TrafficRecord(first[1])
        for number, item in items:
            ev = item.get("ev")
            if ev == "end":
                record.complete = True
                continue
            if ev not in ("send", "recv"):
                raise RecordError(f"line {number}: ev must be send, recv or end")
            try:
                event = Event(
                    t=float(item["t"]), ev=ev, line=str(item["line"]), text=str(item["text"]),
                    kind=item.get("kind"), seq=item.get("seq"),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise RecordError(f"line {number}: missing or bad {exc}") from None
            record.events.append(event)
    return record
