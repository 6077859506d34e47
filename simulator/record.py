"""The traffic record: JSON lines, one per message sent or received (docs/simulator.md).

The first line describes the run (``"ev": "run"``); then ``"ev": "send"`` lines carry the
input text a line sent and ``"ev": "recv"`` lines the output text a line received with its full
sequence number; ``t`` is seconds since the start of the run. The last line
(``"ev": "end"``) closes a complete record. Each line is read into the pydantic model of its
``ev``; a line that does not fit is refused with its number, the field and the rule.
"""

from pathlib import Path
from typing import IO, Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

FORMAT_VERSION: Final = 1
EVENTS: Final = ("run", "send", "recv", "end")
SHOWN_INPUT: Final = 60  # characters of a refused value quoted in the error

LineCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1)]


class RecordError(ValueError):
    """A record file that cannot be read; the message names the line and the field."""


class RunLine(BaseModel):
    """The first line: how the run was made (keys beyond these are kept as written)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    ev: Literal["run"]
    version: Literal[1]
    lines: list[LineCode] = []
    # Lines that sent and read Nlets XML (a record made before XML lines has none).
    xml_lines: list[LineCode] = []
    # The gateway's --lesc-timing the run was made against (a record made before says none).
    lesc_timing: Literal["immediate", "realistic"] = "immediate"


class SendLine(BaseModel):
    """An input a line sent."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ev: Literal["send"]
    t: Seconds
    line: LineCode
    kind: str | None = None
    text: Text


class RecvLine(BaseModel):
    """An output a line received, with its full sequence number."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ev: Literal["recv"]
    t: Seconds
    line: LineCode
    seq: Annotated[int, Field(ge=1)]
    text: Text


class EndLine(BaseModel):
    """The closing line of a complete record (totals beyond ``t`` are kept as written)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    ev: Literal["end"]
    t: Seconds


Event = SendLine | RecvLine
# The lines whose fields are fixed, and those fields (the others keep what is written).
_STRICT_FIELDS: Final = {"send": tuple(SendLine.model_fields), "recv": tuple(RecvLine.model_fields)}
_LINE: Final = TypeAdapter(
    Annotated[RunLine | SendLine | RecvLine | EndLine, Field(discriminator="ev")]
)


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


class TrafficRecord:
    """A record read back: the run's description and its messages in file order."""

    def __init__(self, run: RunLine) -> None:
        self.run: dict[str, Any] = run.model_dump()
        self.events: list[Event] = []
        self.complete = False

    @property
    def sent(self) -> list[SendLine]:
        """The inputs, in the order they were sent."""
        return [event for event in self.events if isinstance(event, SendLine)]

    @property
    def received(self) -> list[RecvLine]:
        """The outputs, in the order they arrived."""
        return [event for event in self.events if isinstance(event, RecvLine)]

    @property
    def lines(self) -> list[str]:
        """Every line that sent or received, plus the lines the run signed on."""
        found = dict.fromkeys(self.run.get("lines", []))
        found.update(dict.fromkeys(event.line for event in self.events))
        return list(found)

    @property
    def lesc_timing(self) -> str:
        """The gateway's LESC timing the run said it ran against (immediate when unsaid)."""
        return str(self.run["lesc_timing"])

    @property
    def xml_lines(self) -> frozenset[str]:
        """The lines that sent and read Nlets XML."""
        return frozenset(self.run.get("xml_lines", []))


def _refusal(number: int, item: dict[str, Any], exc: ValidationError) -> RecordError:
    """One line for the first thing wrong with a record line: where, which field, what rule."""
    error = exc.errors()[0]
    kind = error["type"]
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        return RecordError(f"line {number}, field ev: must be one of {', '.join(EVENTS)}"
                           f" (got {item.get('ev')!r})")
    field = ".".join(str(part) for part in error["loc"][1:])
    if kind == "missing":
        return RecordError(f"line {number}, field {field}: missing")
    if kind == "extra_forbidden":
        known = ", ".join(_STRICT_FIELDS[item["ev"]])
        return RecordError(f"line {number}, field {field}: not a field of a {item['ev']} line"
                           f" (those are {known})")
    rule = error["msg"][0].lower() + error["msg"][1:]
    given = repr(error["input"])
    if len(given) > SHOWN_INPUT:
        given = given[: SHOWN_INPUT - 1] + "…"
    return RecordError(f"line {number}, field {field}: {rule} (got {given})")


def _item(number: int, raw: bytes) -> dict[str, Any]:
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"line {number}: not JSON ({exc})") from None
    if not isinstance(item, dict):
        raise RecordError(f"line {number}: not a JSON object")
    return item


def read_record(path: Path) -> TrafficRecord:
    """Read a record file; raises RecordError naming the first bad line, OSError if unreadable."""
    record: TrafficRecord | None = None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            item = _item(number, raw)
            try:
                parsed = _LINE.validate_python(item)
            except ValidationError as exc:
                raise _refusal(number, item, exc) from None
            if record is None:
                if not isinstance(parsed, RunLine):
                    raise RecordError(f"line {number}: a record starts with the run line "
                                      '({"ev": "run", "version": 1, …})')
                record = TrafficRecord(parsed)
            elif record.complete:
                raise RecordError(f"line {number}: nothing may follow the end line")
            elif isinstance(parsed, RunLine):
                raise RecordError(f"line {number}: a record has one run line, the first")
            elif isinstance(parsed, EndLine):
                record.complete = True
            else:
                record.events.append(parsed)
    if record is None:
        raise RecordError("line 1: the file is empty; a record starts with the run line")
    return record
