"""Destination resolution and sender checks (SPEC.md §1, §2, §3)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from formats.errors import ErrorCode, MessageError
from routing.lines import LineRegistry
from routing.oris import ORI_RE, OriRegistry
from routing.services import SWITCH_ORI

# The message keys that carry or ask for criminal history: an ORI the registry does not
# authorize for it may not send them (docs/protocol-notes.md).
CHRI_MKES: Final = frozenset({"IAQ", "QW", "YQ"})
# How many ORIs and codes Router.line_of keeps the answer of: the registries' own and then
# some, never all an input could name.
LINES_OF_KEPT: Final = 1 << 16
_UNKNOWN: Final = "\0"  # no line code or ORI: "not looked up yet"


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one DEST of a message goes: a service pipeline or a line."""

    kind: Literal["service", "line"]
    name: str  # service name or line code
    address: str  # the DEST as written (ORI, line code or mnemonic)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The destinations of one message: those it goes to, and the faults of the others."""

    destinations: tuple[Destination, ...]
    rejected: tuple[MessageError, ...]  # one .19. per DEST that gets nothing, in header order


class Router:
    """Resolves destinations and checks senders against the line and ORI registries.

    ``services`` maps the header destinations services answer to their names, and
    ``service_oris`` are the ORIs only the gateway sends as (the switch's own always among
    them): both come from the services loaded (responders/registry.py).
    """

    def __init__(
        self,
        lines: LineRegistry,
        oris: OriRegistry,
        services: Mapping[str, str] | None = None,
        service_oris: frozenset[str] = frozenset(),
    ) -> None:
        self._lines = lines
        self._oris = oris
        self._services = dict(services or {})
        self._service_oris = service_oris | {SWITCH_ORI}
        self._lines_of: dict[str, str | None] = {}
        # Nearly every input names one destination, and the registries never change while a
        # router lives: a destination's resolution is kept (those that resolve, as many as
        # line_of keeps), as line_of's answers are.
        self._resolved: dict[str, Resolution] = {}
        taken = sorted(dest for dest in self._services if dest in lines)
        if taken:
            raise ValueError(f"service destination {taken[0]} is a line code of the registry")

    def resolve(self, dest: str) -> Destination:
        """Resolve one DEST; raises MessageError(.19.) when it names nothing known."""
        service = self._services.get(dest)
        if service is not None:
            return Destination("service", service, dest)
        if dest in self._lines:
            return Destination("line", dest, dest)
        # An ORI whose line is not connected (registry drift) is as unknown as a bad ORI.
        entry = self._oris.get(dest)
        if entry is not None and entry.line in self._lines:
            return Destination("line", entry.line, dest)
        raise MessageError(ErrorCode.DESTINATION, f"DESTINATION {dest} UNKNOWN", "DEST")

    def resolve_all(self, dests: Sequence[str], limit: int = 5) -> Resolution:
        """Resolve 1 to ``limit`` destinations, each on its own.

        A header with no destination or more than ``limit`` is one fault of the whole
        message: raises MessageError(.19.) and nothing is delivered. Otherwise each DEST is
        resolved or rejected by itself, in order: an unknown DEST, the same DEST again, or a
        second DEST naming a service already named (AX and VTINS07S0, which would answer
        twice) is rejected, and the others still get the message (docs/protocol-notes.md).
        """
        if not dests:
            raise MessageError(ErrorCode.DESTINATION, "NO DESTINATION", "DEST")
        if len(dests) > limit:
            raise MessageError(
                ErrorCode.DESTINATION,
                f"TOO MANY DESTINATIONS: {len(dests)}, AT MOST {limit}",
                "DEST",
            )
        if len(dests) == 1:
            kept = self._resolved.get(dests[0])
            if kept is not None:
                return kept
        resolved: list[Destination] = []
        rejected: list[MessageError] = []
        seen: set[tuple[str, str]] = set()
        for dest in dests:
            try:
                destination = self.resolve(dest)
            except MessageError as exc:
                rejected.append(exc)
                continue
            # Services are keyed by name, lines by address: two ORIs on one line are two
            # deliveries, but AX and VTINS07S0 are one LESC.
            key = (
                ("service", destination.name)
                if destination.kind == "service"
                else ("line", destination.address)
            )
            if key in seen:
                rejected.append(
                    MessageError(ErrorCode.DESTINATION, f"DESTINATION {dest} REPEATED", "DEST")
                )
                continue
            seen.add(key)
            resolved.append(destination)
        resolution = Resolution(tuple(resolved), tuple(rejected))
        if len(dests) == 1 and not rejected and len(self._resolved) < LINES_OF_KEPT:
            self._resolved[dests[0]] = resolution
        return resolution

    def check_sender(self, line: str, ori: str) -> None:
        """Check that a line may send as ``ori``; raises MessageError(.01.) when not.

        A line sends as the ORIs the registry gives it (its ``line`` column), whatever their
        prefix; an unregistered ORI with the line's prefix is unregistered, any other is
        not on the line.
        """
        entry = self._oris.get(ori)
        if ori in self._service_oris:
            detail = f"SENDER ORI {ori} IS RESERVED FOR THE GATEWAY"
        elif entry is not None and entry.line == line:
            return
        elif entry is not None or ori[:2] != line or len(line) != 2:
            detail = f"SENDER ORI {ori} NOT ON LINE {line}"
        else:
            detail = f"SENDER ORI {ori} NOT REGISTERED"
        raise MessageError(ErrorCode.HEADER, detail, "ORI")

    def check_authorized(self, mke: str, ori: str) -> None:
        """Refuse criminal-history traffic from an ORI the registry does not authorize for it.

        Raises MessageError(.02.) for an IAQ, QW or YQ from an ORI whose ``chri`` is N.
        """
        entry = self._oris.get(ori)
        if mke in CHRI_MKES and entry is not None and not entry.chri:
            raise MessageError(
                ErrorCode.TYPE_NOT_ALLOWED,
                f"ORI {ori} NOT AUTHORIZED FOR CRIMINAL HISTORY ({mke})",
                "ORI",
            )

    def line_of(self, ori_or_code: str) -> str | None:
        """The line that owns a line code or ORI, or None.

        A registered ORI is its registry line's; another ORI is the line's its prefix names
        (SPEC.md §1), so a notice ORI from the line registry need not be registered.
        """
        # Every output asks, for the same few thousand ORIs; the registries never change.
        line = self._lines_of.get(ori_or_code, _UNKNOWN)
        if line is _UNKNOWN:
            line = self._find_line(ori_or_code)
            if len(self._lines_of) < LINES_OF_KEPT:
                self._lines_of[ori_or_code] = line
        return line

    def _find_line(self, ori_or_code: str) -> str | None:
        if len(ori_or_code) == 2:
            return ori_or_code if ori_or_code in self._lines else None
        if ORI_RE.fullmatch(ori_or_code) is None or ori_or_code in self._service_oris:
            return None
        entry = self._oris.get(ori_or_code)
        code = entry.line if entry is not None else ori_or_code[:2]
        return code if code in self._lines else None
