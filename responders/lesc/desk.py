"""The LESC desk: open cases, detainers in place, and the changes pipelines ask for.

Pipelines do no IO. They read LESC state through :class:`LescDesk` and describe every change
(a case opened, a PENDING sent, a case closed, a detainer lodged) as an effect value; the
casebook writes the effects inside the switch's transaction, with the outputs that go with
them (casebook.py).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol

from responders.base import Exchange, Reply
from responders.lesc import LESC_ORI
from routing.lines import LineRegistry
from routing.oris import FBI_CJIS_ORI

# Kinds of case: a hit confirmation (YQ) and an enhanced IAQ response.
HIT: Final = "HIT"
ENHANCED: Final = "ENH"
# States: open (waiting for a technician), answered (an operator answered through the CLI;
# the gateway has not sent the answer yet), closed (the final answer went out).
OPEN: Final = "open"
ANSWERED: Final = "answered"
CLOSED: Final = "closed"

CONFIRMED: Final = "CONFIRMED"
NOT_CONFIRMED: Final = "NOT CONFIRMED"
PENDING: Final = "PENDING"
NRF: Final = "NRF"
HIT_UNIT: Final = "LESC HIT CONFIRMATION UNIT"

# SPEC.md §4: a YR before 10 minutes for PRI/U and 1 hour for PRI/R.
WINDOWS: Final[Mapping[str, timedelta]] = {
    "U": timedelta(minutes=10),
    "R": timedelta(hours=1),
}
_MINUTE: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Case:
    """A request the LESC is working on or has answered: a hit confirmation or an enhanced IAQ.

    ``id`` is the journal number of the input that opened the case (its LESC control number).
    ``request`` holds the fields of that input the answers echo. A case a pipeline opens has
    ``in_seq`` 0: the gateway copies the input sequence number from the journal.
    """

    id: int
    kind: str
    state: str
    line: str
    ori: str
    received_at: datetime
    control: str | None
    request: Mapping[str, str]
    in_seq: int = 0
    candidates: tuple[str, ...] = ()
    nic: str | None = None
    oca: str | None = None
    pri: str | None = None
    rno: int = 1
    deadline: datetime | None = None
    rtm: str | None = None
    pendings: int = 0
    answer: str | None = None
    answered_by: str | None = None
    remark: str | None = None
    outcome: str | None = None
    detainer: bool = False
    closed_at: datetime | None = None

    @property
    def control_number(self) -> str:
        """The ten-digit LESC control number."""
        return f"{self.id:010d}"


class QueryServed(NamedTuple):
    """A query the LESC or NCIC answered (``kind`` IAQ, YQ or QW), for ``iaqgw stats``.

    A biometric IAQ counts for its booking agency: ``line`` and ``ori`` are the booking ORI's.
    ``indices`` is an IAQ's ``IDX/`` listing: the indices searched and which of them hit.
    """

    input_id: int
    kind: str
    purpose: str | None
    line: str
    ori: str
    received_at: datetime
    biometric: bool = False
    indices: str | None = None


@dataclass(frozen=True, slots=True)
class CaseOpened:
    """Record a new case (``case.state`` open, or closed when answered at once)."""

    case: Case
    at: datetime


@dataclass(frozen=True, slots=True)
class CasePending:
    """A PENDING YR went out for an open hit confirmation; ``deadline`` is the new promise.

    ``due`` is when a deadline action was due (None for a PENDING that answers a follow-up).
    """

    case: Case
    at: datetime
    deadline: datetime
    rtm: str
    pri: str
    rno: int
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaseClosed:
    """The final answer of a case went out; ``case.state`` is the state it must still be in."""

    case: Case
    at: datetime
    outcome: str
    answered_by: str
    detainer: bool
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class DetainerLodged:
    """An immigration detainer was lodged for the requesting agency."""

    input_id: int
    line: str
    ori: str
    arn: str
    nic: str | None
    ice_office: str
    lodged_at: datetime


Effect = QueryServed | CaseOpened | CasePending | CaseClosed | DetainerLodged


@dataclass(slots=True)
class CaseAction:
    """What answering a case outside an input's arrival produces: outputs and effects."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


class LescDesk(Protocol):
    """What pipelines may ask of the gateway's LESC state."""

    @property
    def nics_ori(self) -> str | None:
        """The ORI that gets a copy of every PUR/F response, or None."""
        ...

    def find_case(self, ori: str, nic: str, oca: str) -> Case | None:
        """The latest hit confirmation case of this requester for this NIC and OCA."""
        ...

    def detainer_in_place(self, ori: str, arn: str) -> bool:
        """Whether a detainer for this A-number was already lodged for this agency."""
        ...


class RecordLookup(Protocol):
    """What pipelines may ask of the immigration index."""

    def by_arn(self, arn: str) -> Any:
        """The record with this A-number, or None."""
        ...

    def by_name(self, last: str, first: str, dob: date, sex: str | None) -> list[Any]:
        """Records matching Soundex surname, first initial and DOB (sex filters unless U)."""
        ...

    def by_nic(self, nic: str) -> Any:
        """The IVF record with this NCIC number, or None."""
        ...

    def ivf_by_name(self, last: str, first: str, dob: date, sex: str | None) -> list[Any]:
        """IVF records matching the name search."""
        ...


class ResearchTiming(Protocol):
    """When a realistic-timing IAR is due (responders/lesc/timing.py)."""

    def of(self, findings: Iterable[Any], seed: bytes) -> float:
        """Seconds of research for a query that searched these indices."""
        ...


@dataclass(frozen=True, slots=True)
class LescState:
    """What the LESC's pipelines and timed actions read; everything here is read-only to them."""

    index: RecordLookup
    desk: LescDesk
    lines: LineRegistry
    ori: str = LESC_ORI  # the ORI the LESC sends as (--lesc-ori)
    cjis_ori: str = FBI_CJIS_ORI  # the sender of biometric IAQs (IAQGW_CJIS_ORI)
    # The line that owns an ORI (the switch's, ServiceContext.line_of); None: on no line.
    line_of: Callable[[str], str | None] = lambda ori: None
    # The index files' tables by index name (responders/lesc/indices/files.py).
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    timing: ResearchTiming | None = None  # None: immediate (--lesc-timing)


def lesc_state(exchange: Exchange) -> LescState:
    """The LESC state the switch lends an exchange of the LESC or NCIC."""
    state = exchange.state
    if not isinstance(state, LescState):
        raise TypeError(f"exchange to {exchange.destination.name} has no LESC state")
    return state


def promise(now: datetime, pri: str) -> datetime:
    """The time a PENDING YR promises the next answer by: the priority window, whole minutes."""
    moment = now + WINDOWS[pri]
    rounded = moment.replace(second=0, microsecond=0)
    # RTM is HHMM, so the promise is the first whole minute not before now + window.
    return rounded if rounded == moment else rounded + _MINUTE


def hhmm(moment: datetime) -> str:
    """``HHMM`` (UTC, as in the output headers)."""
    return f"{moment.hour:02d}{moment.minute:02d}"


def name_of(last: str, first: str, middle: str) -> str:
    """``LAST, FIRST MIDDLE`` as NCIC writes a name."""
    return f"{last}, {first} {middle}".rstrip()


def request_fields(pairs: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    """The fields of a request a case keeps (absent ones left out)."""
    return {tag: value for tag, value in pairs if value is not None}
