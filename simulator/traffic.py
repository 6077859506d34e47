"""The message mix of the simulated state switches, drawn from the ORI registry and the index.

Subjects come from the same immigration records the gateway serves, so IAQs hit by A-number
and by name, miss, and match several records; some carry the subject's FBI number and SID, as
an officer has them after a booking, or an FBI number that finds no one (docs/simulator.md);
QWs name IVF subjects so their QR carries hits that the switch then confirms with a YQ.
"""

import csv
import random
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Final

from formats.dates import format_ccyymmdd
from formats.message import format_fields, format_input
from formats.soundex import soundex
from responders.lesc import LESC_ORI
from responders.lesc.desk import name_of
from responders.lesc.indices.identifiers import arn_of_fbi, fbi_number, sid_number
from responders.lesc.records import ensure_index, index_path
from routing.lines import LINE_CODES
from routing.oris import FBI_CJIS_ORI, OriRegistry

MIX_KINDS: Final = ("iaq", "qw", "am", "bad", "bio")
DEFAULT_MIX: Final = {"iaq": 70.0, "qw": 15.0, "am": 13.0, "bad": 2.0}
# Kinds as the report shows them: the mix's IAQ splits by purpose, YQ follows QW hits.
REPORT_KINDS: Final = ("iaq-c", "iaq-f", "iaq-b", "qw", "yq", "am", "bad")
# The output that answers each kind (an ER answers any of them).
ANSWER_MKE: Final = {
    "iaq-c": "IAR", "iaq-f": "IAR", "iaq-b": "IAR", "qw": "QR", "yq": "YR", "am": "AM",
    "bad": "ER",
}  # fmt: skip
# The line biometric IAQs (mix kind ``bio``) are sent on: the FBI CJIS Division's.
CJIS_LINE: Final = FBI_CJIS_ORI[:2]
# Shares of IAQs with identifiers beyond the A-number (docs/simulator.md): a booked subject's
# FBI number and SID, mostly; now and then an FBI number from an old report, the subject's or
# one that finds no one.
BOOKED_SHARE: Final = 0.15
BOOKED_IDENTIFIED: Final = 0.8
BOOKED_UNKNOWN_FBI: Final = 0.1
OTHER_FBI: Final = 0.05
OTHER_UNKNOWN_FBI: Final = 0.05
INDEX_SAMPLE: Final = 5000
SHARED_SAMPLE: Final = 500
OFFENSES: Final = ("0399", "1399", "2404", "3599", "5404", "5707", "4899", "2303")
OFFICERS: Final = ("DET SMITH", "OFC GARCIA", "SGT NGUYEN", "DEP JOHNSON", "TPR WILSON",
                   "INV MARTINEZ", "OFC BROWN", "DET LEE")
# A remark that asks the LESC for an enhanced response (a technician's second IAR).
ASKS_ENHANCED: Final = "PLEASE SEND ENHANCED RESPONSE"
AM_TEXTS: Final = (
    "REQUEST COPY OF INCIDENT REPORT CASE {n}",
    "SUBJECT IN CUSTODY, PLEASE ADVISE ON WARRANT {n}",
    "VEHICLE RECOVERED, REFERENCE CASE {n}",
    "PLEASE CONFIRM RECEIPT OF TELETYPE {n}",
)


@dataclass(frozen=True, slots=True)
class Subject:
    """A person as the simulated officer knows them, with their A-number (given only now and
    then; None for a person the index does not hold)."""

    last: str
    first: str
    middle: str
    dob: date
    sex: str
    pob: str
    arn: str | None = None
    nic: str | None = None

    @property
    def nam(self) -> str:
        """``LAST, FIRST MIDDLE``."""
        return name_of(self.last, self.first, self.middle)[:30]


@dataclass(frozen=True, slots=True)
class TrafficData:
    """Subjects to ask about and the agencies that ask."""

    records: tuple[Subject, ...]
    ivf: tuple[Subject, ...]
    shared: tuple[Subject, ...]  # name keys that match several records
    agencies: Mapping[str, tuple[str, ...]]


def _name_key(subject: Subject) -> tuple[str, str, date]:
    return soundex(subject.last), subject.first[:1], subject.dob


def _ymd(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def subjects_from_csv(path: Path) -> list[Subject]:
    """Every record of a records CSV (SPEC.md §5)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [
            Subject(
                row["last"].strip().upper(), row["first"].strip().upper(),
                row["middle"].strip().upper(), _ymd(row["dob"].strip()),
                row["sex"].strip().upper(), row["pob"].strip().upper(),
                row["arn"].strip().upper().removeprefix("A").zfill(9),
                row["nic"].strip().upper() or None,
            )
            for row in csv.DictReader(handle)
        ]


_COLUMNS = "last, first, middle, dob, sex, pob, arn, nic"


def _subject(row: tuple[str, str, str, str, str, str, str, str | None]) -> Subject:
    last, first, middle, dob, sex, pob, arn, nic = row
    return Subject(last, first, middle, _ymd(dob), sex, pob, arn, nic)


def synthetic_subjects(
    data_dir: Path, count: int, seed: int
) -> tuple[list[Subject], list[Subject], list[Subject]]:
    """:func:`subjects_from_index` of the synthetic index of ``count`` records the gateway
    serves from ``data_dir``, built first when it is missing."""
    path = index_path(data_dir, None, count)
    ensure_index(path, None, count)
    return subjects_from_index(path, seed)


def subjects_from_index(path: Path, seed: int) -> tuple[list[Subject], list[Subject],
                                                         list[Subject]]:
    """A seeded sample of a built index: (records, IVF records, shared name keys)."""
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        count = int(db.execute("SELECT value FROM meta WHERE key = 'count'").fetchone()[0])
        rng = random.Random(seed)
        rowids = sorted(rng.sample(range(1, count + 1), min(INDEX_SAMPLE, count)))
        marks = ",".join("?" * len(rowids))
        records = [
            _subject(row)
            for row in db.execute(
                f"SELECT {_COLUMNS} FROM record WHERE rowid IN ({marks}) ORDER BY rowid", rowids
            )
        ]
        ivf = [
            _subject(row)
            for row in db.execute(
                f"SELECT {_COLUMNS} FROM record WHERE nic IS NOT NULL ORDER BY nic LIMIT ?",
                (INDEX_SAMPLE,),
            )
        ]
        # The name index is sorted by key, so runs of equal keys are read without sorting.
        shared = [
            _subject(row)
            for row in db.execute(
                f"SELECT {_COLUMNS} FROM record WHERE rowid IN ("
                " SELECT MIN(rowid) FROM record GROUP BY soundex, finit, dob"
                " HAVING COUNT(*) > 1 LIMIT ?) ORDER BY rowid",
                (SHARED_SAMPLE,),
            )
        ]
    finally:
        db.close()
    return records, ivf, shared


def traffic_data(subjects: Iterable[Subject], oris: OriRegistry,
                 lines: Iterable[str]) -> TrafficData:
    """Split subjects into ordinary, IVF and shared-key ones; agencies by line."""
    records = tuple(subjects)
    keys: dict[tuple[str, str, date], list[Subject]] = {}
    for subject in records:
        keys.setdefault(_name_key(subject), []).append(subject)
    shared = tuple(group[0] for group in keys.values() if len(group) > 1)
    return TrafficData(
        records=records,
        ivf=tuple(s for s in records if s.nic),
        shared=shared,
        agencies=agencies_by_line(oris, lines),
    )


def busiest_lines(oris: OriRegistry, count: int) -> list[str]:
    """The ``count`` line codes with the most agencies, the most first (equal ones by code)."""
    return sorted(LINE_CODES, key=lambda code: (-len(oris.by_line(code)), code))[:count]


def agencies_by_line(oris: OriRegistry, lines: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Agency ORIs of each line (the control terminal stands in for a line with none).

    The FBI CJIS Division is left out: an IAQ from it is biometric (docs/lesc.md), which the
    mix's queries are not.
    """
    found = {}
    for line in lines:
        agencies = tuple(
            o.ori
            for o in oris.by_line(line)
            if not o.ori.endswith("0000") and o.ori != FBI_CJIS_ORI
        )
        found[line] = agencies or (f"{line}0000000",)
    return found


def parse_mix(text: str) -> dict[str, float]:
    """``iaq=70,qw=15,am=13,bad=2`` (kinds left out weigh 0); raises ValueError."""
    mix = dict.fromkeys(MIX_KINDS, 0.0)
    for item in text.split(","):
        kind, sep, weight = item.strip().partition("=")
        if not sep or kind not in mix:
            raise ValueError(f"{item.strip()!r}: write KIND=WEIGHT with KIND one of "
                             + ", ".join(MIX_KINDS))
        try:
            value = float(weight)
        except ValueError:
            raise ValueError(f"{item.strip()!r}: the weight must be a number") from None
        if not value >= 0:
            raise ValueError(f"{item.strip()!r}: the weight must not be negative")
        mix[kind] = value
    if sum(mix.values()) <= 0:
        raise ValueError("the mix must give some kind a weight above 0")
    return mix


@dataclass(frozen=True, slots=True)
class Planned:
    """One input the simulation will send, and what should answer it."""

    kind: str
    line: str
    sender: str
    control: str
    text: str
    answer_line: str  # where the answer arrives (the destination line for a forwarded AM)
    subject: Subject | None = None
    # The ORI the answer goes to when it is not the sender: a biometric IAQ's booking agency.
    answer_ori: str | None = None


@dataclass(frozen=True, slots=True)
class HitConfirmation:
    """What a YQ asks: the hit to confirm and who asks."""

    line: str
    sender: str
    oca: str
    nic: str
    priority: str
    subject: Subject


class TrafficGenerator:
    """Draws the next input of the mix; the same seed gives the same sequence."""

    def __init__(self, data: TrafficData, mix: Mapping[str, float], lines: list[str],
                 seed: int) -> None:
        self._data = data
        self._lines = lines
        self._rng = random.Random(seed)
        self._kinds = [kind for kind in MIX_KINDS if mix.get(kind, 0) > 0]
        # Random.choices takes the running totals as they are, where it builds them from
        # weights at every call.
        self._cum_weights = list(accumulate(mix[kind] for kind in self._kinds))
        self._number = 0

    def control(self, line: str) -> str:
        """A control field unique in the run: line code and eight digits."""
        self._number += 1
        return f"{line}{self._number % 100_000_000:08d}"

    def next(self) -> Planned:
        """The next input of the mix."""
        rng = self._rng
        kind = rng.choices(self._kinds, cum_weights=self._cum_weights)[0]
        line = rng.choice(self._lines)
        sender = rng.choice(self._data.agencies[line])
        if kind == "iaq":
            return self._iaq(line, sender)
        if kind == "qw":
            return self._qw(line, sender)
        if kind == "am":
            return self._am(line, sender)
        if kind == "bio":
            return self._biometric(line, sender)
        return self._bad(line, sender)

    def _pick_subject(self) -> tuple[Subject, bool]:
        """A subject to query and whether to give its A-number."""
        rng = self._rng
        draw = rng.random()
        if draw < 0.1 and self._data.shared:
            return rng.choice(self._data.shared), False
        if draw < 0.25 and self._data.ivf:
            return rng.choice(self._data.ivf), False
        subject = rng.choice(self._data.records)
        if draw < 0.45:
            return subject, subject.arn is not None
        if draw < 0.75:
            return subject, False
        # A miss by name: the same person with a birth date the index does not hold for
        # them (a false one given at arrest); their prints still name them (FBI/, SID/).
        shifted = subject.dob - timedelta(days=rng.randint(40, 4000))
        return Subject(subject.last, subject.first, subject.middle, shifted, subject.sex,
                       subject.pob, subject.arn), False

    def _dob(self, subject: Subject) -> str:
        if self._rng.random() < 0.2 and subject.dob.year >= 1930:
            return f"{subject.dob.month:02d}{subject.dob.day:02d}{subject.dob.year % 100:02d}"
        return format_ccyymmdd(subject.dob)

    def _unknown_fbi(self) -> str:
        """An FBI number in the proper form that encodes no one: mistyped, or another
        agency's."""
        while True:
            letters = "".join(self._rng.choice("ABCDEFGHIJKLMNOPQRSTUVWX") for _ in range(2))
            fbi = f"{self._rng.randint(0, 999_999):06d}{letters}{self._rng.randint(0, 9)}"
            if arn_of_fbi(fbi) is None:
                return fbi

    def _identifiers(self, line: str, subject: Subject, booked: bool) -> dict[str, str]:
        """The FBI/ and SID/ an officer has, if any: a booked subject's from the prints."""
        draw = self._rng.random()
        arn = subject.arn
        if booked:
            if draw < BOOKED_IDENTIFIED and arn is not None:
                return {"FBI": fbi_number(arn), "SID": sid_number(arn, line)}
            if draw < BOOKED_IDENTIFIED + BOOKED_UNKNOWN_FBI:
                return {"FBI": self._unknown_fbi()}
            return {}
        if draw < OTHER_FBI and arn is not None:
            return {"FBI": fbi_number(arn)}
        if draw < OTHER_FBI + OTHER_UNKNOWN_FBI:
            return {"FBI": self._unknown_fbi()}
        return {}

    def _iaq_fields(self, line: str, subject: Subject, with_arn: bool,
                    purpose: str) -> dict[str, str]:
        rng = self._rng
        booked = rng.random() < BOOKED_SHARE
        fields = {
            "PUR": purpose,
            "ATN": rng.choice(OFFICERS),
            "PHN": f"{rng.randint(200, 989)}-555-{rng.randint(100, 199):04d}",
            "NAM": subject.nam,
            "DOB": self._dob(subject),
            "SEX": subject.sex if rng.random() < 0.9 else "U",
            "POB": subject.pob,
            "CUS": "Y" if booked else "N",
            "OFF": "0399" if purpose == "F" else rng.choice(OFFENSES),
        }
        if with_arn and subject.arn:
            fields["ARN"] = f"A{subject.arn}"
        fields.update(self._identifiers(line, subject, booked))
        if rng.random() < 0.3:
            fields["OCA"] = f"{line}{rng.randint(10**6, 10**7 - 1)}"
        if rng.random() < 0.05:
            fields["REM"] = ASKS_ENHANCED  # REM/ stands last
        return fields

    def _iaq(self, line: str, sender: str) -> Planned:
        subject, with_arn = self._pick_subject()
        purpose = "F" if self._rng.random() < 0.2 else "C"
        control = self.control(line)
        body = format_fields(self._iaq_fields(line, subject, with_arn, purpose))
        text = format_input("IAQ", sender, [self._rng.choice(("AX", LESC_ORI))], body, control)
        return Planned(f"iaq-{purpose.lower()}", line, sender, control, text, line, subject)

    def _biometric(self, line: str, booking: str) -> Planned:
        """The FBI CJIS Division's IAQ, on its own line, after a fingerprint match at a
        booking by ``booking``: answered to the booking agency (docs/lesc.md). The match
        gives the subject's own FBI number and the booking state's SID."""
        subject, _ = self._pick_subject()
        control = self.control(CJIS_LINE)
        fields = self._iaq_fields(line, subject, False, "C")
        remark = fields.pop("REM", None)
        for drawn in ("FBI", "SID"):
            fields.pop(drawn, None)
        fields["ATN"] = "FBI CJIS DIVISION"
        fields["CUS"] = "Y"  # booked
        if subject.arn is not None:
            fields["FBI"] = fbi_number(subject.arn)
            fields["SID"] = sid_number(subject.arn, line)
        else:
            fields["FBI"] = self._unknown_fbi()
            fields["SID"] = f"{line}{self._rng.randint(10**7, 10**8 - 1)}"
        fields["BOR"] = booking
        if remark is not None:
            fields["REM"] = remark  # REM/ stands last
        text = format_input("IAQ", FBI_CJIS_ORI, ["AX"], format_fields(fields), control)
        return Planned("iaq-b", CJIS_LINE, FBI_CJIS_ORI, control, text, line, subject, booking)

    def _qw(self, line: str, sender: str) -> Planned:
        rng = self._rng
        pool = self._data.ivf if self._data.ivf and rng.random() < 0.6 else self._data.records
        subject = rng.choice(pool)
        fields = {"NAM": subject.nam, "DOB": format_ccyymmdd(subject.dob)}
        if rng.random() < 0.7:
            fields["SEX"] = subject.sex
        control = self.control(line)
        text = format_input("QW", sender, ["NCIC"], format_fields(fields), control)
        return Planned("qw", line, sender, control, text, line, subject)

    def _am(self, line: str, sender: str) -> Planned:
        rng = self._rng
        control = self.control(line)
        draw = rng.random()
        words = rng.choice(AM_TEXTS).format(n=rng.randint(10**5, 10**6 - 1))
        if draw < 0.1:
            text = format_input("AM", sender, ["AXADMHELP"], "SEND HELP FILE", control)
            return Planned("am", line, sender, control, text, line)
        to_line = rng.choice(self._lines)
        dest = to_line if draw < 0.2 else rng.choice(self._data.agencies[to_line])
        text = format_input("AM", sender, [dest], words, control)
        return Planned("am", line, sender, control, text, to_line)

    def _bad(self, line: str, sender: str) -> Planned:
        """Faults real switches send now and then: each has a fixed ER number."""
        rng = self._rng
        subject = rng.choice(self._data.records)
        fields = self._iaq_fields(line, subject, False, "C")
        control = self.control(line)
        fault = rng.randrange(4)
        dests = ["AX"]
        if fault == 0:
            del fields["OFF"]  # .14. fields missing
        elif fault == 1:
            fields["DOB"] = "20991301"  # .05. DOB invalid
        elif fault == 2:
            dests = [f"{line}9ZZZZZ9"]  # .19. no such ORI
        else:
            fields["SEX"] = "X"  # .22. invalid field
        text = format_input("IAQ", sender, dests, format_fields(fields), control)
        return Planned("bad", line, sender, control, text, line, subject)

    def yq(self, hit: HitConfirmation, rno: int, control: str) -> str:
        """A hit confirmation request (RNO/1, or 2 and 3 when no answer came in time)."""
        subject = hit.subject
        fields = {
            "RTY": "WP", "RNO": str(rno), "PRI": hit.priority, "OCA": hit.oca, "NIC": hit.nic,
            "NAM": subject.nam, "DOB": format_ccyymmdd(subject.dob), "SEX": subject.sex,
            "RNA": "DISPATCH", "RAG": f"{hit.line} AGENCY {hit.sender[2:5]}",
            "PHO": "555-0100",
        }  # fmt: skip
        return format_input("YQ", hit.sender, [LESC_ORI], format_fields(fields), control)

    def hit_confirmation(self, planned: Planned, nic: str) -> HitConfirmation:
        """The YQ a switch sends on a QR hit (its draws seeded by the QW, not by timing)."""
        subject = planned.subject
        assert subject is not None
        rng = random.Random(f"{planned.control}:{nic}")
        if rng.random() < 0.15 and len(subject.first) > 2:
            # The name as the officer took it down, one letter short: a partial match that
            # the LESC refers to a technician.
            subject = Subject(subject.last, subject.first[:-1], subject.middle, subject.dob,
                              subject.sex, subject.pob, subject.arn, subject.nic)
        return HitConfirmation(
            line=planned.line,
            sender=planned.sender,
            oca=f"{planned.line}{rng.randint(10**7, 10**8 - 1)}",
            nic=nic,
            priority="U" if rng.random() < 0.7 else "R",
            subject=subject,
        )
