"""The LESC casebook: hit confirmations, the technician queue and detainers, in the switch's store.

The tables live in the database the switch lends the LESC (its journal) so that one
transaction holds an input, its outputs and the case it opens or closes: the switch and the
LESC's timed actions hand effects to :meth:`Casebook.write`, which runs inside the switch's
transaction. Reads (pipelines' look-ups, the due queries) use the store's read connection and
see what is committed, plus the effects of the batch the switch is answering
(``uncommitted``).

The operator's CLI (``iaqgw queue``) opens the same store from another process: it lists the
queue and marks a case ``answered``; the gateway sends the answer on its next sweep.
"""

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from responders.base import (
    POSTGRESQL,
    SQLITE,
    Clock,
    Connection,
    Nudge,
    ServiceStore,
    Transaction,
    insert_rows,
    table_columns,
)
from responders.lesc.desk import (
    ANSWERED,
    CLOSED,
    CONFIRMED,
    ENHANCED,
    HIT,
    NOT_CONFIRMED,
    NRF,
    OPEN,
    Case,
    CaseClosed,
    CaseOpened,
    CasePending,
    DetainerLodged,
    QueryServed,
)
from responders.lesc.index import normalize_arn

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS lesc_cases (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    line TEXT NOT NULL,
    ori TEXT NOT NULL,
    in_seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    control TEXT,
    request TEXT NOT NULL,
    candidates TEXT NOT NULL,
    nic TEXT,
    oca TEXT,
    pri TEXT,
    rno INTEGER NOT NULL,
    deadline REAL,
    due REAL,
    rtm TEXT,
    pendings INTEGER NOT NULL DEFAULT 0,
    tech_at REAL,
    answer TEXT,
    answered_by TEXT,
    remark TEXT,
    answered_at REAL,
    outcome TEXT,
    detainer INTEGER NOT NULL DEFAULT 0,
    closed_at REAL
);
CREATE INDEX IF NOT EXISTS lesc_cases_state ON lesc_cases (state, id);
-- (state, time): a sweep reads its batch of due cases in order, not every open case.
DROP INDEX IF EXISTS lesc_cases_due;
DROP INDEX IF EXISTS lesc_cases_tech;
CREATE INDEX IF NOT EXISTS lesc_cases_state_due ON lesc_cases (state, due);
CREATE INDEX IF NOT EXISTS lesc_cases_state_tech ON lesc_cases (state, tech_at);
CREATE INDEX IF NOT EXISTS lesc_cases_key ON lesc_cases (ori, nic, oca) WHERE nic IS NOT NULL;
CREATE TABLE IF NOT EXISTS lesc_detainers (
    id INTEGER PRIMARY KEY,
    input_id INTEGER NOT NULL,
    line TEXT NOT NULL,
    ori TEXT NOT NULL,
    arn TEXT NOT NULL,
    nic TEXT,
    ice_office TEXT NOT NULL,
    lodged_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS lesc_detainers_subject ON lesc_detainers (ori, arn);
CREATE TABLE IF NOT EXISTS lesc_queries (
    input_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    purpose TEXT,
    line TEXT NOT NULL,
    ori TEXT NOT NULL,
    received_at REAL NOT NULL,
    answered_at REAL NOT NULL,
    biometric INTEGER NOT NULL DEFAULT 0,
    indices TEXT
);
"""
# Columns added to the tables after journals were written without them: (table, column,
# definition). create_tables adds them to such a journal; readers of a journal they may not
# change (``iaqgw stats``) ask table_columns.
ADDED_COLUMNS: Final = (
    ("lesc_queries", "biometric", "INTEGER NOT NULL DEFAULT 0"),
    # An IAQ's IDX/ listing; an IAQ of a journal from before it counts in no index.
    ("lesc_queries", "indices", "TEXT"),
)

_COLUMNS: Final = (
    "id, kind, state, line, ori, in_seq, received_at, control, request, candidates, nic, oca,"
    " pri, rno, deadline, rtm, pendings, answer, answered_by, remark, outcome, detainer,"
    " closed_at"
)
_SELECT: Final = f"SELECT {_COLUMNS} FROM lesc_cases"
_INSERT: Final = (
    "INSERT INTO lesc_cases (id, kind, state, line, ori, in_seq, received_at, control, request,"
    " candidates, nic, oca, pri, rno, deadline, due, tech_at, answered_by, outcome, detainer,"
    " closed_at)"
    " SELECT ?, ?, ?, ?, ?, in_seq, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM inputs"
    " WHERE id = ?"
)
_INSERT_QUERY: Final = (
    "INSERT INTO lesc_queries (input_id, kind, purpose, line, ori, received_at, answered_at,"
    " biometric, indices)"
)
# Answers an operator may give to a hit confirmation (either spelling of NOT CONFIRMED).
HIT_ANSWERS: Final = {
    "CONFIRMED": CONFIRMED,
    "NOT CONFIRMED": NOT_CONFIRMED,
    "NOT-CONFIRMED": NOT_CONFIRMED,
}
NAME_MAX: Final = 30
REMARK_MAX: Final = 200


def create_tables(store: ServiceStore) -> None:
    """Create the LESC's tables, and add the columns a journal written before them lacks."""
    store.schema(SCHEMA)
    reader = store.reader()
    for table, column, definition in ADDED_COLUMNS:
        if column in table_columns(reader, table, store.dialect):
            continue
        try:
            store.schema(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        except Exception:
            # Another process (an instance, an operator's command) added it first.
            if column not in table_columns(reader, table, store.dialect):
                raise


# The effects that change a case or lodge a detainer (every LESC effect but QueryServed).
CaseChange = CaseOpened | CasePending | CaseClosed | DetainerLodged
# A log event to write once the effects are written: level, event, values.
_Event = tuple[str, str, dict[str, Any]]


class StaleCase(Exception):
    """A case moved on (an operator answered it) between reading it and acting on it."""

    def __init__(self, case_id: int) -> None:
        super().__init__(f"case {case_id} changed state")
        self.case_id = case_id


def stamp(moment: datetime) -> float:
    """A datetime as stored: seconds since the epoch."""
    return moment.timestamp()


def moment(value: float) -> datetime:
    """A stored time as a UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def _case(row: Sequence[Any]) -> Case:
    (case_id, kind, state, line, ori, in_seq, received_at, control, request, candidates, nic,
     oca, pri, rno, deadline, rtm, pendings, answer, answered_by, remark, outcome, detainer,
     closed_at) = row  # fmt: skip
    return Case(
        id=case_id,
        kind=kind,
        state=state,
        line=line,
        ori=ori,
        in_seq=in_seq,
        received_at=moment(received_at),
        control=control,
        request=orjson.loads(request),
        candidates=tuple(candidates.split()),
        nic=nic,
        oca=oca,
        pri=pri,
        rno=rno,
        deadline=moment(deadline) if deadline is not None else None,
        rtm=rtm,
        pendings=pendings,
        answer=answer,
        answered_by=answered_by,
        remark=remark,
        outcome=outcome,
        detainer=bool(detainer),
        closed_at=moment(closed_at) if closed_at is not None else None,
    )


def read_case(db: Connection, case_id: int) -> Case | None:
    """One case by its LESC control number."""
    row = db.execute(f"{_SELECT} WHERE id = ?", (case_id,)).fetchone()
    return _case(row) if row else None


def queue(db: Connection) -> list[Case]:
    """The technician queue: open cases and answers not sent yet, hit confirmations first."""
    rows = db.execute(
        f"{_SELECT} WHERE state IN (?, ?) ORDER BY kind = ?, rno DESC, deadline, id",
        (OPEN, ANSWERED, ENHANCED),
    )
    return [_case(row) for row in rows]


def parse_answer(case: Case, text: str) -> str:
    """An operator's answer, normalised; ValueError names what the case takes instead."""
    value = " ".join(text.upper().split())
    if case.kind == HIT:
        answer = HIT_ANSWERS.get(value)
        if answer is None:
            raise ValueError(
                f"case {case.id} is a hit confirmation: answer CONFIRMED or NOT-CONFIRMED"
            )
        return answer
    if value == NRF:
        return NRF
    arn = normalize_arn(value)
    if arn is None or arn not in case.candidates:
        choices = " ".join(f"A{c}" for c in case.candidates) or "none"
        raise ValueError(f"case {case.id}: answer NRF or one of its records ({choices})")
    return arn


def answer_case(
    store: ServiceStore,
    case_id: int,
    text: str,
    answered_by: str,
    remark: str | None,
    at: datetime,
) -> Case:
    """Record an operator's answer; the gateway sends it on its next sweep.

    Raises LookupError when there is no open case ``case_id`` and ValueError when the answer
    does not fit the case, or the name or remark is not one line of printable text.
    """
    case = read_case(store.reader(), case_id)
    if case is None:
        raise LookupError(f"no case {case_id}")
    if case.state != OPEN:
        raise LookupError(f"case {case_id} is {case.state}, not open")
    answer = parse_answer(case, text)
    for label, value, limit in (("name", answered_by, NAME_MAX), ("remark", remark, REMARK_MAX)):
        if value is not None and not (
            value.strip() and len(value) <= limit and value.isascii() and value.isprintable()
        ):
            raise ValueError(f"{label}: 1 to {limit} printable ASCII characters on one line")
    with store.transaction() as tx:
        cursor = tx.execute(
            "UPDATE lesc_cases SET state = ?, answer = ?, answered_by = ?, remark = ?,"
            " answered_at = ? WHERE id = ? AND state = ?",
            (ANSWERED, answer, answered_by.upper(), remark.upper() if remark else None,
             stamp(at), case_id, OPEN),
        )
        if cursor.rowcount != 1:
            raise LookupError(f"case {case_id} was answered meanwhile")
    answered = read_case(store.reader(), case_id)
    assert answered is not None
    return answered


class _Read:
    """What the desk's look-ups need of one sequence of effects not yet written, read once
    each: it only grows while it is the same object (ServiceContext.uncommitted)."""

    __slots__ = ("detainers", "effects", "opened", "pendings", "read")

    def __init__(self, effects: Sequence[object]) -> None:
        self.effects = effects
        self.read = 0
        self.detainers: set[tuple[str, str]] = set()
        # The latest case opened for each (ori, nic, oca), and the PENDINGs of each case.
        self.opened: dict[tuple[str, str | None, str | None], Case] = {}
        self.pendings: dict[int, list[CasePending]] = {}

    def up_to_date(self) -> "_Read":
        """Read what was added since the last call."""
        effects = self.effects
        for effect in effects[self.read:]:
            if isinstance(effect, DetainerLodged):
                self.detainers.add((effect.ori, effect.arn))
            elif isinstance(effect, CaseOpened):
                case = effect.case
                self.opened[(case.ori, case.nic, case.oca)] = case
            elif isinstance(effect, CasePending):
                self.pendings.setdefault(effect.case.id, []).append(effect)
        self.read = len(effects)
        return self


class Casebook:
    """The LESC's state: the desk pipelines read, the effects it writes, what is due.

    ``uncommitted`` gives the LESC effects of the batch the switch is answering; ``on_write``
    is called after effects that bring a due time were written, with the earliest: the
    scheduler sweeps by then (a due time that moves later, or goes, needs no sweep).
    """

    def __init__(
        self,
        db: Connection,
        *,
        clock: Clock,
        margins: Mapping[str, timedelta],
        technician_delay: Callable[[], float | None],
        nics_ori: str | None,
        log: Any,
        uncommitted: Callable[[], Sequence[object]] = tuple,
        on_write: Nudge | None = None,
        dialect: str = SQLITE,
    ) -> None:
        self._db = db
        # On a database several instances share, a timed action claims its case's row: the
        # instance that gets it acts, one that finds it taken skips the case (StaleCase).
        self._claim = " FOR UPDATE SKIP LOCKED" if dialect == POSTGRESQL else ""
        self._clock = clock
        self._margins = dict(margins)
        self._technician_delay = technician_delay
        self._nics_ori = nics_ori
        self._log = log
        self._uncommitted = uncommitted
        self._on_write = on_write
        # Effects of the timed actions being prepared in one sweep (see staged).
        self._staged: list[object] = []
        # What the look-ups read of the batch's effects and of the sweep's (see _unwritten).
        self._read_batch = _Read(())
        self._read_staged = _Read(self._staged)

    @contextmanager
    def staged(self) -> Iterator[list[object]]:
        """A list whose effects the desk's reads see until the block ends.

        The timed actions of one sweep are prepared before any is stored: each adds its
        effects here, so a later action finds the detainer an earlier one lodged, as a later
        input of a batch does through ``uncommitted``.
        """
        self._staged = []
        try:
            yield self._staged
        finally:
            self._staged = []

    def _unwritten(self) -> tuple[_Read, _Read]:
        """The batch's effects not yet written, then those of the sweep under way; each read
        once, however many inputs of a batch look them up (a new sequence is read anew)."""
        uncommitted = self._uncommitted()
        if uncommitted is not self._read_batch.effects:
            self._read_batch = _Read(uncommitted)
        if self._staged is not self._read_staged.effects:
            self._read_staged = _Read(self._staged)
        return self._read_batch.up_to_date(), self._read_staged.up_to_date()

    # the desk pipelines read

    @property
    def nics_ori(self) -> str | None:
        """The ORI that gets a copy of every PUR/F response."""
        return self._nics_ori

    def find_case(self, ori: str, nic: str, oca: str) -> Case | None:
        """The latest hit confirmation case of this requester for this NIC and OCA."""
        row = self._db.execute(
            f"{_SELECT} WHERE ori = ? AND nic = ? AND oca = ? ORDER BY id DESC LIMIT 1",
            (ori, nic, oca),
        ).fetchone()
        case = _case(row) if row else None
        # A case opened later replaces one opened before; a PENDING names its own case.
        for unwritten in self._unwritten():
            case = unwritten.opened.get((ori, nic, oca), case)
            if case is None:
                continue
            for effect in unwritten.pendings.get(case.id, ()):
                case = dataclasses.replace(
                    case, deadline=effect.deadline, rtm=effect.rtm, pri=effect.pri,
                    rno=effect.rno, pendings=case.pendings + 1,
                )
        return case

    def detainer_in_place(self, ori: str, arn: str) -> bool:
        """Whether a detainer for this A-number was already lodged for this agency."""
        batch, sweep = self._unwritten()
        if (ori, arn) in batch.detainers or (ori, arn) in sweep.detainers:
            return True
        row = self._db.execute(
            "SELECT 1 FROM lesc_detainers WHERE ori = ? AND arn = ? LIMIT 1", (ori, arn)
        ).fetchone()
        return row is not None

    # what is due

    def answered(self, limit: int) -> list[tuple[Case, datetime | None]]:
        """Cases an operator answered whose answer has not gone out."""
        rows = self._db.execute(
            f"{_SELECT} WHERE state = ? ORDER BY id LIMIT ?", (ANSWERED, limit)
        )
        return [(_case(row), None) for row in rows]

    def technician_due(self, now: datetime, limit: int) -> list[tuple[Case, datetime | None]]:
        """Open cases the simulated technician has finished with by ``now``."""
        return self._due("tech_at", now, limit)

    def pending_due(self, now: datetime, limit: int) -> list[tuple[Case, datetime | None]]:
        """Hit confirmations whose PENDING YR is due by ``now``.

        Open ones, and answered ones: their answer is sent before this is asked, so one still
        answered is one whose answer could not be sent, and it must not miss its deadline.
        """
        return self._due("due", now, limit) + self._due("due", now, limit, ANSWERED)

    def _due(
        self, column: str, now: datetime, limit: int, state: str = OPEN
    ) -> list[tuple[Case, datetime | None]]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS}, {column} FROM lesc_cases"
            f" WHERE state = ? AND {column} <= ? ORDER BY {column} LIMIT ?",
            (state, stamp(now), limit),
        )
        return [(_case(row[:-1]), moment(row[-1])) for row in rows]

    def next_due(self) -> datetime | None:
        """The earliest time a timed action falls due (None when nothing is open)."""
        row = self._db.execute(
            "SELECT (SELECT MIN(due) FROM lesc_cases WHERE state = ?),"
            " (SELECT MIN(tech_at) FROM lesc_cases WHERE state = ?)",
            (OPEN, OPEN),
        ).fetchone()
        times = [value for value in row if value is not None]
        return moment(min(times)) if times else None

    def open_count(self) -> int:
        """How many cases are open or answered but not sent."""
        return sum(self.open_by_kind().values())

    def open_by_kind(self) -> dict[str, int]:
        """Cases open or answered but not sent, by kind (HIT, ENH)."""
        rows = self._db.execute(
            "SELECT kind, COUNT(*) FROM lesc_cases WHERE state IN (?, ?) GROUP BY kind",
            (OPEN, ANSWERED),
        )
        return {str(kind): int(count) for kind, count in rows}

    # writing effects (inside the switch's transaction)

    def write(self, effects: Sequence[object], db: Transaction) -> None:
        """Apply effects inside the switch's open transaction.

        Raises StaleCase, before logging anything, when a timed action finds its case no
        longer in the state it was read in, and TypeError for a value that is no LESC effect;
        the switch's transaction then rolls back.
        """
        # Nearly every LESC input brings a QueryServed and little else: those are taken in
        # one pass, and the rest looked at one by one only when there is a rest.
        served: list[QueryServed] = [effect for effect in effects if type(effect) is QueryServed]
        changes: list[CaseChange] = []
        if len(served) != len(effects):
            for effect in effects:
                if type(effect) is QueryServed:
                    continue
                if not isinstance(effect, CaseChange):
                    raise TypeError(f"not a LESC effect: {effect!r}")
                changes.append(effect)
        if served:
            # Statements of many rows each (insert_rows). The inputs of a batch share their
            # time of receipt (the journal stamps a batch once), so each distinct time is
            # converted once.
            answered = stamp(self._clock.now())
            received = {query.received_at for query in served}
            stamps = {at: stamp(at) for at in received}
            insert_rows(
                db,
                _INSERT_QUERY,
                # Unpacked: a named tuple's field read by name costs a descriptor call each.
                [
                    (input_id, kind, purpose, line, ori, stamps[received_at], answered,
                     int(biometric), indices)
                    for input_id, kind, purpose, line, ori, received_at, biometric, indices
                    in served
                ],
            )
        if not changes:
            return
        self._check(changes, db)
        events: list[_Event] = []
        # The due times the changes bring: a case opened its deadline's and its technician's,
        # a PENDING its next deadline's. A case closed or a detainer brings none.
        due_times: list[float] = []
        for effect in changes:
            if isinstance(effect, CaseOpened):
                due_times.extend(self._open(effect, db))
            elif isinstance(effect, CasePending):
                due = self._due_of(effect.pri, effect.deadline)
                events.append(self._pending(effect, due, db))
                if due is not None:
                    due_times.append(due)
            elif isinstance(effect, CaseClosed):
                events.append(self._closed(effect, db))
            else:
                events.append(self._detainer(effect, db))
        for level, event, values in events:
            getattr(self._log, level)(event, **values)
        if self._on_write is not None and due_times:
            self._on_write(moment(min(due_times)))

    def _check(self, effects: Iterable[CaseChange], db: Transaction) -> None:
        for effect in effects:
            if isinstance(effect, CaseClosed):
                expected: tuple[str, ...] = (effect.case.state,)
            elif isinstance(effect, CasePending) and effect.due is not None:
                expected = (effect.case.state,)
            else:
                # What an input brings (a follow-up's PENDING among them) is answered from
                # state read in the same batch, perhaps opened by it: nothing to check.
                continue
            row = db.execute(
                f"SELECT state, pendings FROM lesc_cases WHERE id = ?{self._claim}",
                (effect.case.id,),
            ).fetchone()
            # A PENDING already sent for this deadline (by another instance) moved it on.
            if row is None or row[0] not in expected or (
                isinstance(effect, CasePending) and row[1] != effect.case.pendings
            ):
                raise StaleCase(effect.case.id)

    def _due_of(self, pri: str | None, deadline: datetime | None) -> float | None:
        if pri is None or deadline is None:
            return None
        return stamp(deadline - self._margins[pri])

    def _open(self, effect: CaseOpened, db: Transaction) -> list[float]:
        """Insert the case; returns its due times (a deadline's action, the technician's)."""
        case = effect.case
        is_open = case.state == OPEN
        delay = self._technician_delay() if is_open else None
        due = self._due_of(case.pri, case.deadline) if is_open else None
        tech_at = stamp(effect.at) + delay if delay is not None else None
        cursor = db.execute(
            _INSERT,
            (
                case.id, case.kind, case.state, case.line, case.ori, stamp(case.received_at),
                case.control, orjson.dumps(dict(case.request)).decode(),
                " ".join(case.candidates), case.nic, case.oca, case.pri, case.rno,
                stamp(case.deadline) if case.deadline is not None else None,
                due,
                tech_at,
                case.answered_by, case.outcome, int(case.detainer),
                None if is_open else stamp(effect.at),
                case.id,
            ),
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"case {case.id} opened by an input the journal does not hold")
        return [at for at in (due, tech_at) if at is not None]

    def _pending(self, effect: CasePending, due: float | None, db: Transaction) -> _Event:
        case = effect.case
        db.execute(
            "UPDATE lesc_cases SET deadline = ?, due = ?, rtm = ?, pri = ?, rno = ?,"
            " pendings = pendings + 1 WHERE id = ?",
            (stamp(effect.deadline), due, effect.rtm, effect.pri, effect.rno, case.id),
        )
        return self._deadline_event(case, effect.at, effect.due, "PENDING", rtm=effect.rtm)

    def _closed(self, effect: CaseClosed, db: Transaction) -> _Event:
        case = effect.case
        db.execute(
            "UPDATE lesc_cases SET state = ?, outcome = ?, answered_by = ?, detainer = ?,"
            " closed_at = ? WHERE id = ?",
            (CLOSED, effect.outcome, effect.answered_by, int(effect.detainer), stamp(effect.at),
             case.id),
        )
        if case.kind == HIT:
            return self._deadline_event(case, effect.at, effect.due, effect.outcome)
        values = {
            "line": case.line, "ori": case.ori, "case": case.control_number, "kind": case.kind,
            "outcome": effect.outcome, "by": effect.answered_by,
            "latency_ms": _ms(effect.at - case.received_at),
        }
        return "info", "queue.answered", values

    def _deadline_event(
        self, case: Case, at: datetime, due: datetime | None, sta: str, rtm: str | None = None
    ) -> _Event:
        deadline = case.deadline or at
        margin = _ms(deadline - at)
        values: dict[str, Any] = {
            "line": case.line, "ori": case.ori, "case": case.control_number, "pri": case.pri,
            "rno": case.rno, "sta": sta, "rtm": rtm, "margin_ms": margin,
        }
        if due is not None:
            values["late_ms"] = _ms(at - due)
        return ("warning" if margin < 0 else "info"), "hit.deadline", values

    def _detainer(self, effect: DetainerLodged, db: Transaction) -> _Event:
        db.execute(
            "INSERT INTO lesc_detainers (input_id, line, ori, arn, nic, ice_office, lodged_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (effect.input_id, effect.line, effect.ori, effect.arn, effect.nic,
             effect.ice_office, stamp(effect.lodged_at)),
        )
        values = {
            "line": effect.line, "ori": effect.ori, "dest": effect.ice_office,
            "case": f"{effect.input_id:010d}", "nic": effect.nic,
        }
        return "info", "detainer.lodged", values


def _ms(delta: timedelta) -> float:
    return round(delta.total_seconds() * 1000, 3)
