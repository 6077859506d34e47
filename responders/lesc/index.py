"""The immigration index (SPEC.md §5): an SQLite file of LESC records, built once, then read.

The file is the source of truth. Beside it the build writes the records' packed form, a
sidecar file named after it (``<index>.packed``): every record as one line of text in name-key
order, sorted arrays of name keys and A-numbers, and a hash table over each array. Opening an
index maps the sidecar read-only, so a lookup is a probe or two of a table in memory, not an
SQLite probe nor a binary search, and only the pages
lookups touch are resident (docs/benchmarks.md, "Issue 13 changes"). The sidecar carries the
schema version and the build stamp of the SQLite file it was packed from: one that does not
match (missing, stale, cut short, another byte order) is never mapped; the records are then
packed at open, in memory (slower to start, the same answers), and ``ensure_index``
(records.py) writes the sidecar again.
"""

from __future__ import annotations

import mmap
import os
import random
import re
import secrets
import sqlite3
import struct
import sys
import tempfile
from array import array
from bisect import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import accumulate
from math import isqrt
from pathlib import Path
from typing import Any, Final, Generic, NamedTuple, TypeVar

from formats.dates import format_ccyymmdd
from formats.soundex import soundex

STATUSES: Final = frozenset({"USC", "LPR", "NIV", "OOS", "REM"})
IVF_CATEGORIES: Final = frozenset({"DEPORTED FELON", "ABSCONDER", "NSEERS VIOLATOR"})
MAX_MATCHES: Final = 20
# 2: with the packed table; 3: the packed form in a sidecar file, with a build stamp.
SCHEMA_VERSION: Final = "3"
SIDECAR_SUFFIX: Final = ".packed"

# Stored columns: the record's fields, then the search keys derived from them. An empty
# status date is NULL (indexes built before it could be empty read the same).
_SCHEMA: Final = """
CREATE TABLE record (
    arn TEXT NOT NULL, last TEXT NOT NULL, first TEXT NOT NULL, middle TEXT NOT NULL,
    dob TEXT NOT NULL, sex TEXT NOT NULL, pob TEXT NOT NULL, status TEXT NOT NULL,
    coa TEXT NOT NULL, status_date TEXT, ivf TEXT, nic TEXT,
    soundex TEXT NOT NULL, finit TEXT NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INDEXES: Final = """
CREATE UNIQUE INDEX record_arn ON record (arn);
CREATE UNIQUE INDEX record_nic ON record (nic) WHERE nic IS NOT NULL;
CREATE INDEX record_name ON record (soundex, finit, dob);
"""
_INSERT: Final = "INSERT INTO record VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_COLUMNS: Final = "arn, last, first, middle, dob, sex, pob, status, coa, status_date, ivf, nic"
_SELECT: Final = f"SELECT {_COLUMNS} FROM record"
_BY_NIC: Final = _SELECT + " WHERE nic = ?"
# The records in name-key order (the ARN makes it total), with their name-key columns. The
# text order of (soundex, finit, dob) is the order of _name_key's integers: a capital and
# three digits, code points (UTF-8 compares as they do), CCYYMMDD.
_PACK_ROWS: Final = (
    f"SELECT {_COLUMNS}, soundex, finit FROM record ORDER BY soundex, finit, dob, arn"
)
_BATCH: Final = 50_000
# Fields of a packed record line: no validated record field holds this control character.
_SEP: Final = "\x1f"
# The packed arrays: name keys and A-numbers as signed 64-bit, positions as unsigned 32-bit,
# in the byte order of the machine that packed them (named in the sidecar's header).
_KEYS: Final = "q"
_POSITIONS: Final = "I"
_PARTS: Final = ("text", "offsets", "keys", "arns", "at", "key_slots", "arn_slots")
# What the sidecar's header names: the index schema, then the sidecar's layout (2: with the
# hash tables).
_SIDECAR_SCHEMA: Final = f"{SCHEMA_VERSION}.2"
# The sidecar's header: magic, schema version, byte order, the SQLite file's build stamp (meta
# ``build``), the file's size, then where each part starts and ends; the parts follow, each
# starting on 8 bytes, as the arrays' items want.
_MAGIC: Final = b"IAQGWPK\n"
_HEADER: Final = struct.Struct(f"<8s8s8s32sQ{2 * len(_PARTS)}Q")

_ARN_RE: Final = re.compile(r"A?([0-9]{8,9})")

_T = TypeVar("_T")
_Row = tuple[
    str, str, str, str, str, str, str, str, str, str | None, str | None, str | None, str, str
]


class Record(NamedTuple):
    """One person in the index, as LESC would find it.

    A named tuple, not a dataclass: a lookup builds one from a packed line's fields in one
    call (``tuple.__new__``), where a frozen dataclass sets its twelve slots one by one.
    """

    arn: str  # 9 digits
    last: str
    first: str
    middle: str
    dob: date
    sex: str
    pob: str
    status: str  # USC LPR NIV OOS REM
    coa: str  # empty when there is none (a citizen by birth)
    status_date: date | None
    ivf: str | None  # DEPORTED FELON, ABSCONDER, NSEERS VIOLATOR
    nic: str | None


# A stored date's CCYYMMDD text, read in C (Python 3.11 reads the ISO basic form).
_date: Final = date.fromisoformat


def _packed_record(fields: list[Any]) -> Record:
    """The record of a packed line's fields, or of a row's columns in _SELECT order with
    empty text for NULL (the dates are CCYYMMDD text); ``fields`` is taken over."""
    fields[4] = _date(fields[4])
    fields[9] = _date(fields[9]) if fields[9] else None
    fields[10] = fields[10] or None
    fields[11] = fields[11] or None
    # Record._make less its length check: a packed line and a row have the twelve fields.
    return tuple.__new__(Record, fields)


@lru_cache(maxsize=1 << 15)
def _sound(code: str) -> int:
    # A Soundex code (a capital and three digits) as a number below 26,000.
    return (ord(code[0]) - 65) * 1000 + int(code[1:4])


@lru_cache(maxsize=8192)
def _surname_sound(last: str) -> int:
    # A searched (upper-case) surname's Soundex number: one cache probe instead of two.
    return _sound(soundex(last))


def _name_key(sound: int, initial: str, dob: date) -> int:
    """The search key of a Soundex number (``_sound``), first initial and DOB as one
    integer: equal keys exactly when all three are equal."""
    return (sound << 43) | (ord(initial) << 22) | dob.toordinal()


# A value's home slot is the value times _SPREAD modulo the table's (prime) size: one small
# multiplication and one division. Modulo alone would put a name's consecutive dates of birth
# in consecutive slots (runs of thousands); a 64-bit multiplicative hash makes big integers.
_SPREAD: Final = 0x2545F491


def _prime_at_least(n: int) -> int:
    n = max(n, 2)
    while any(n % d == 0 for d in range(2, isqrt(n) + 1)):
        n += 1
    return n


def _slots(values: array[int]) -> array[int]:
    """The hash table of a sorted array: a prime number of slots, more than twice its
    values, each empty (0) or one more than where a value first occurs in the array; a
    collision probes the next slot."""
    size = _prime_at_least(2 * len(values) + 1)
    slots = array(_POSITIONS, [0]) * size
    previous = None
    for i, value in enumerate(values):
        if value == previous:
            continue
        previous = value
        slot = value * _SPREAD % size
        while slots[slot]:
            slot = slot + 1 if slot + 1 < size else 0
        slots[slot] = i + 1
    return slots


def _find(slots: memoryview, values: memoryview, value: int) -> int:
    """Where ``value`` first occurs in the sorted ``values`` of the table ``slots``, or -1."""
    size = len(slots)
    slot = value * _SPREAD % size
    while at := slots[slot]:
        if values[at - 1] == value:
            return at - 1
        slot = slot + 1 if slot + 1 < size else 0
    return -1


def sidecar_path(path_db: Path) -> Path:
    """Where the packed form of the index file ``path_db`` is kept: beside it, named after it."""
    return path_db.with_name(path_db.name + SIDECAR_SUFFIX)


def _field(text: str) -> bytes:
    return text.encode().ljust(8, b"\0")


class _Packed:
    """The packed form of an index: record lines in name-key order and the sorted keys."""

    __slots__ = ("_mapping", "arn_slots", "arns", "at", "key_slots", "keys", "offsets", "text")

    def __init__(self, text: memoryview, offsets: memoryview, keys: memoryview,
                 arns: memoryview, at: memoryview, key_slots: memoryview, arn_slots: memoryview,
                 mapping: mmap.mmap | None = None) -> None:
        self.text = text  # record lines, _SEP between fields, UTF-8
        self.offsets = offsets  # where line i starts; one more for the end
        self.keys = keys  # name key of line i, ascending
        self.arns = arns  # A-numbers as integers, ascending
        self.at = at  # the line of arns[j]
        self.key_slots = key_slots  # hash table of keys (_slots)
        self.arn_slots = arn_slots  # hash table of arns
        self._mapping = mapping  # what the views show, when mapped

    def write(self, path: Path, stamp: str) -> None:
        """Write the sidecar ``path`` for the index file of build ``stamp``: to a temporary
        file beside it, synced, then renamed into place (a reader sees all of it or none)."""
        parts = [getattr(self, name).cast("B") for name in _PARTS]
        spans: list[int] = []
        at = _HEADER.size
        for part in parts:
            spans += [at, at + part.nbytes]
            at += part.nbytes + (-part.nbytes % 8)
        header = _HEADER.pack(_MAGIC, _field(_SIDECAR_SCHEMA), _field(sys.byteorder),
                              stamp.encode(), at, *spans)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header)
                for part in parts:
                    out.write(part)
                    out.write(bytes(-part.nbytes % 8))
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        _fsync(path.parent)

    @classmethod
    def mapped(cls, path: Path, stamp: str) -> _Packed | None:
        """The sidecar ``path`` mapped read-only, or None when it is missing or is not the
        packed form of the index file of build ``stamp`` in this schema and byte order."""
        try:
            with path.open("rb") as handle:
                header = handle.read(_HEADER.size)
                size = os.fstat(handle.fileno()).st_size
                if len(header) < _HEADER.size:
                    return None
                magic, schema, order, built, total, *spans = _HEADER.unpack(header)
                if (magic, schema, order, built, total) != (
                    _MAGIC, _field(_SIDECAR_SCHEMA), _field(sys.byteorder), stamp.encode(), size
                ) or any(not _HEADER.size <= at <= size or at % 8 for at in spans[::2]) or any(
                    not start <= end <= size for start, end in zip(spans[::2], spans[1::2],
                                                                   strict=True)
                ):
                    return None
                mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        view = memoryview(mapping)
        text, offsets, keys, arns, at, key_slots, arn_slots = (
            view[start:end] for start, end in zip(spans[::2], spans[1::2], strict=True)
        )
        return cls(text, offsets.cast(_POSITIONS), keys.cast(_KEYS), arns.cast(_KEYS),
                   at.cast(_POSITIONS), key_slots.cast(_POSITIONS), arn_slots.cast(_POSITIONS),
                   mapping)

    def close(self) -> None:
        """Let go of the mapping (lookups fail after this)."""
        for name in _PARTS:
            getattr(self, name).release()
        if self._mapping is not None:
            self._mapping.close()

    @classmethod
    def pack(cls, rows: Iterable[tuple[Any, ...]]) -> _Packed:
        """From the records in name-key order (``_PACK_ROWS``)."""
        lines: list[bytes] = []
        offsets = array(_POSITIONS, [0])
        keys = array(_KEYS)
        arn_numbers: list[int] = []
        end = 0
        for row in rows:
            *fields, code, initial = row
            line = _SEP.join(field or "" for field in fields).encode()
            lines.append(line)
            end += len(line)
            offsets.append(end)
            keys.append(_name_key(_sound(code), initial, _date(fields[4])))
            # Stored A-numbers are 9 digits, so their integers order and match as they do.
            arn_numbers.append(int(fields[0]))
        order = sorted(range(len(arn_numbers)), key=arn_numbers.__getitem__)
        arns = array(_KEYS, [arn_numbers[i] for i in order])
        return cls(memoryview(b"".join(lines)), memoryview(offsets), memoryview(keys),
                   memoryview(arns), memoryview(array(_POSITIONS, order)),
                   memoryview(_slots(keys)), memoryview(_slots(arns)))

    def record(self, i: int) -> Record:
        """The record of line ``i``."""
        offsets = self.offsets
        return _packed_record(str(self.text[offsets[i]:offsets[i + 1]], "utf-8").split(_SEP))

    def by_arn(self, number: int) -> Record | None:
        """The record with this A-number, or None."""
        j = _find(self.arn_slots, self.arns, number)
        return None if j < 0 else self.record(self.at[j])

    def by_key(self, key: int, sex: str | None, ivf_only: bool) -> list[Record]:
        """The records with this name key in A-number order: of this sex or U unless ``sex``
        is None, and in the Immigration Violator File when ``ivf_only``."""
        keys = self.keys
        end = len(keys)
        found: list[Record] = []
        i = _find(self.key_slots, keys, key)
        if i < 0:
            return found
        # Most keys have one record or a few: the table finds the first, the rest follow it.
        while i < end and keys[i] == key:
            record = self.record(i)
            i += 1
            if (sex is None or record.sex == sex or record.sex == "U") and (
                not ivf_only or record.ivf is not None
            ):
                found.append(record)
        return found


def normalize_arn(value: str) -> str | None:
    """A-number as 9 digits (leading A optional, 8 or 9 digits), or None when malformed."""
    # Nine ASCII digits, the form a validated IAQ carries, are normal already.
    if len(value) == 9 and value.isascii() and value.isdigit():
        return value
    match = _ARN_RE.fullmatch(value.strip().upper())
    return match.group(1).zfill(9) if match else None


class ImmigrationIndex:
    """Read-only lookups in a built index file: names and A-numbers in its packed form,
    the sidecar ``sidecar`` mapped (else packed at open); NCIC numbers from the file over one
    connection, kept open."""

    def __init__(self, connection: sqlite3.Connection, count: int, sidecar: Path) -> None:
        self._db = connection
        self._count = count
        self._packed = _read_packed(connection, sidecar)

    @classmethod
    def open(cls, path: Path) -> ImmigrationIndex:
        """Open a built index read-only; FileNotFoundError or ValueError when it is not one."""
        if not path.is_file():
            raise FileNotFoundError(path)
        connection = sqlite3.connect(
            path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False
        )
        try:
            found = connection.execute("SELECT value FROM meta WHERE key = 'count'").fetchone()
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise ValueError(f"cannot read {path} as an immigration index: {exc}") from exc
        if found is None:
            connection.close()
            raise ValueError(f"cannot read {path} as an immigration index: no record count")
        try:
            return cls(connection, int(found[0]), sidecar_path(path.resolve()))
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise ValueError(f"cannot read {path} as an immigration index: {exc}") from exc

    def close(self) -> None:
        """Close the connection and let go of the packed form."""
        self._db.close()
        self._packed.close()

    def __len__(self) -> int:
        return self._count

    def by_arn(self, arn: str) -> Record | None:
        """The record with this A-number (with or without the A, 8 or 9 digits), or None."""
        number = normalize_arn(arn)
        if number is None:
            return None
        return self._packed.by_arn(int(number))

    def by_nic(self, nic: str) -> Record | None:
        """The IVF record with this NCIC number, or None."""
        row = self._db.execute(_BY_NIC, (nic.strip().upper(),)).fetchone()
        return _packed_record([column or "" for column in row]) if row else None

    def by_name(self, last: str, first: str, dob: date, sex: str | None) -> list[Record]:
        """Soundex of surname + first initial + DOB, sex as a filter unless None or U.

        At most MAX_MATCHES records, exact surname and first name first.
        """
        return self._search(last, first, dob, sex, ivf_only=False)

    def ivf_by_name(self, last: str, first: str, dob: date, sex: str | None) -> list[Record]:
        """The by_name search restricted to records in the Immigration Violator File."""
        return self._search(last, first, dob, sex, ivf_only=True)

    def _search(
        self, last: str, first: str, dob: date, sex: str | None, *, ivf_only: bool
    ) -> list[Record]:
        last = last.strip().upper()
        first = first.strip().upper()
        # Soundex needs a letter to start from; a name without one matches nobody.
        if not "A" <= last[:1] <= "Z" or not first:
            return []
        found = self._packed.by_key(
            _name_key(_surname_sound(last), first[0], dob), None if sex == "U" else sex, ivf_only
        )
        # Exact surname, then exact first name, rank ahead of mere phonetic matches; the
        # A-number order underneath (a stable sort) makes answers reproducible.
        if len(found) > 1:
            found.sort(key=lambda r: (r.last != last, r.first != first))
            del found[MAX_MATCHES:]
        return found


def _meta(path: Path) -> dict[str, str]:
    """The index file's ``meta`` table; empty when the file cannot be read as an index."""
    try:
        connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        return dict(connection.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError:
        return {}
    finally:
        connection.close()


def is_current(path: Path) -> bool:
    """True when the index file was built by this version (else it is built again)."""
    return _meta(path).get("schema") == SCHEMA_VERSION


def sidecar_is_current(path: Path) -> bool:
    """True when the index file's sidecar is its packed form (else it is written again)."""
    stamp = _meta(path).get("build")
    packed = None if stamp is None else _Packed.mapped(sidecar_path(path.resolve()), stamp)
    if packed is None:
        return False
    packed.close()
    return True


def write_sidecar(path: Path) -> None:
    """Pack the records of a current index file (:func:`is_current`) into its sidecar."""
    stamp = _meta(path).get("build")
    if stamp is None:
        raise ValueError(f"{path} has no build stamp: build the index again")
    connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        _Packed.pack(connection.execute(_PACK_ROWS)).write(sidecar_path(path.resolve()), stamp)
    finally:
        connection.close()


def _read_packed(connection: sqlite3.Connection, sidecar: Path) -> _Packed:
    """The packed form in the sidecar, mapped; packed from the records, in memory, when the
    sidecar is missing or stale, or the file was built before sidecars (schema 1 or 2)."""
    meta = dict(connection.execute("SELECT key, value FROM meta"))
    stamp = meta.get("build")
    if meta.get("schema") == SCHEMA_VERSION and stamp is not None:
        packed = _Packed.mapped(sidecar, stamp)
        if packed is not None:
            return packed
    return _Packed.pack(connection.execute(_PACK_ROWS))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _build(path_db: Path, batches: Iterable[list[_Row]]) -> int:
    """Write the rows into a temporary file beside ``path_db``, then rename it into place."""
    path_db.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path_db.name}.", suffix=".tmp", dir=path_db.parent)
    os.close(fd)
    tmp = Path(name)
    count = 0
    try:
        connection = sqlite3.connect(tmp)
        try:
            # No journal and no syncs while building: a failed build is thrown away whole.
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            connection.executescript(_SCHEMA)
            for batch in batches:
                connection.executemany(_INSERT, batch)
                count += len(batch)
            # Indexes built after the inserts are sorted once instead of updated per row.
            connection.executescript(_INDEXES)
            packed = _Packed.pack(connection.execute(_PACK_ROWS))
            # The stamp ties the sidecar to this build: a sidecar of another build is stale.
            stamp = secrets.token_hex(16)
            connection.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("count", str(count)), ("build", stamp)],
            )
            connection.commit()
            connection.execute("PRAGMA journal_mode=WAL")
        finally:
            connection.close()
        _fsync(tmp)
        # The sidecar first: a crash before the rename below leaves the previous index with a
        # sidecar of another build, which is stale (written again), never wrong.
        packed.write(sidecar_path(path_db), stamp)
        # A -wal/-shm left by the previous file would be replayed into the new one.
        for sidecar in ("-wal", "-shm"):
            path_db.with_name(path_db.name + sidecar).unlink(missing_ok=True)
        os.replace(tmp, path_db)
        _fsync(path_db.parent)
    except BaseException:
        for leftover in ("", "-wal", "-shm", "-journal"):
            tmp.with_name(tmp.name + leftover).unlink(missing_ok=True)
        raise
    return count


def _batched(rows: Iterable[_Row]) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _stored(record: Record, codes: dict[str, str]) -> _Row:
    code = codes.get(record.last)
    if code is None:
        code = codes[record.last] = soundex(record.last)
    status_date = None if record.status_date is None else format_ccyymmdd(record.status_date)
    return (
        record.arn, record.last, record.first, record.middle, format_ccyymmdd(record.dob),
        record.sex, record.pob, record.status, record.coa, status_date, record.ivf, record.nic,
        code, record.first[0],
    )  # fmt: skip


def build_from_records(path_db: Path, records: Iterable[Record]) -> int:
    """Build the index from checked records (gateway/datafiles.py reads them); returns the count.

    An exception from ``records`` leaves any previous index file as it was.
    """
    codes: dict[str, str] = {}
    return _build(path_db, _batched(_stored(record, codes) for record in records))


# ---------------------------------------------------------------------------------------------
# Synthetic records


class _Weighted(Generic[_T]):
    """Items drawn with given weights by one uniform number (bisect on cumulative weights)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, items: Sequence[_T], weights: Sequence[float]) -> None:
        self._items = tuple(items)
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, uniform: float) -> _T:
        """The item at ``uniform`` in [0, 1)."""
        return self._items[bisect(self._cum, uniform * self._total)]


def _codes(spec: str) -> _Weighted[str]:
    """A pool written as ``CODE:weight CODE:weight ...``."""
    pairs = [item.split(":") for item in spec.split()]
    return _Weighted([code for code, _ in pairs], [int(weight) for _, weight in pairs])


def _zipf(names: str) -> _Weighted[str]:
    """A pool listed most common first; frequency falls off like 1/rank^0.7."""
    items = names.split()
    return _Weighted(items, [1 / (rank**0.7) for rank in range(1, len(items) + 1)])


# Surname pools, most common first. A steep fall-off makes shared surnames (and so shared
# Soundex + initial + DOB keys) common enough that multi-record answers occur.
_SURNAMES: Final = {
    "hispanic": _zipf(
        "GARCIA RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ GONZALEZ PEREZ SANCHEZ RAMIREZ TORRES"
        " FLORES RIVERA GOMEZ DIAZ CRUZ MORALES REYES GUTIERREZ ORTIZ RAMOS CHAVEZ MENDOZA"
        " RUIZ ALVAREZ CASTILLO JIMENEZ VASQUEZ MORENO ROMERO HERRERA MEDINA AGUILAR VARGAS"
        " GUZMAN MENDEZ CASTRO MUNOZ SALAZAR GARZA SOTO VAZQUEZ ALVARADO DELGADO PENA"
        " CONTRERAS SANDOVAL GUERRERO RIOS ESTRADA ORTEGA NUNEZ MALDONADO DOMINGUEZ VEGA"
        " ESPINOZA ROJAS MARQUEZ PADILLA MEJIA JUAREZ LUNA AYALA FIGUEROA CARRILLO SANTIAGO"
        " CABRERA CAMPOS FUENTES LARA ACOSTA MOLINA VILLANUEVA CORTEZ AVILA NAVARRO SALINAS"
        " ROSALES PACHECO IBARRA CERVANTES RIVAS VELASQUEZ MIRANDA SALAS TREJO ESCOBAR SOLIS"
        " BARRERA OCHOA CORONA LEON VALENCIA ROSARIO ZAMORA SILVA CORDOVA ROBLES MEZA PINEDA"
        " ARIAS CARDENAS MONTOYA VALDEZ QUINTERO BELTRAN GALLEGOS ZUNIGA ARELLANO TAPIA"
        " BAUTISTA BONILLA ARGUETA PORTILLO LEMUS ZELAYA CARCAMO PAZ OSORIO ALFARO VILLATORO"
        " AGUIRRE MACIAS VELAZQUEZ CISNEROS PONCE ROSAS TOVAR OROZCO VALENZUELA SERRANO"
        " BENITEZ DURAN"
    ),
    "chinese": _zipf(
        "WANG LI ZHANG LIU CHEN YANG HUANG ZHAO WU ZHOU XU SUN MA ZHU HU GUO HE LIN GAO LUO"
        " ZHENG LIANG XIE TANG SONG DENG FENG HAN CAO PENG"
    ),
    "vietnamese": _zipf(
        "NGUYEN TRAN LE PHAM HOANG HUYNH PHAN VU VO DANG BUI DO HO NGO DUONG LY TRUONG DINH"
        " LAM MAI"
    ),
    "filipino": _zipf(
        "SANTOS REYES CRUZ BAUTISTA OCAMPO GARCIA MENDOZA TORRES TOMAS ANDRES MARQUEZ"
        " CASTILLO AQUINO DIZON MANALO PASCUAL VILLANUEVA RAMOS FERNANDEZ SORIANO MERCADO"
        " NAVARRO DELEON SALVADOR GONZALES MACARAEG DAVID LACSON"
    ),
    "haitian": _zipf(
        "PIERRE JEAN JOSEPH LOUIS CHARLES BAPTISTE ETIENNE DESIR AUGUSTIN FRANCOIS ALEXIS"
        " CADET DORVIL JACQUES PAUL MICHEL NOEL SAINTIL REMY THELUSMA"
    ),
    "english": _zipf(
        "SMITH JONES WILLIAMS BROWN TAYLOR DAVIES EVANS WILSON THOMAS JOHNSON ROBERTS WALKER"
        " WRIGHT ROBINSON THOMPSON WHITE HUGHES EDWARDS GREEN HALL CAMPBELL GRANT REID"
        " CLARKE MORRIS STEWART BAILEY MURRAY FRANCIS GORDON"
    ),
    "portuguese": _zipf(
        "SILVA SANTOS OLIVEIRA SOUZA RODRIGUES FERREIRA ALVES PEREIRA LIMA GOMES COSTA"
        " RIBEIRO MARTINS CARVALHO ALMEIDA LOPES SOARES FERNANDES VIEIRA BARBOSA ROCHA"
        " DIAS NASCIMENTO ANDRADE MOREIRA"
    ),
    "african": _zipf(
        "OKAFOR ADEYEMI OKONKWO EZE NWOSU ADEBAYO OLUWASEUN IBRAHIM MUSA BELLO MENSAH OWUSU"
        " BOATENG ASANTE OSEI APPIAH TESFAYE GEBRE HAILE ALEMU BEKELE TADESSE MOHAMMED"
        " ABDI OKEKE CHUKWU OBI ONYEKA DANSO AMOAH"
    ),
    "mideast": _zipf(
        "KHAN AHMED ALI HUSSAIN MALIK IQBAL SHAH RAZA BUTT CHAUDHRY QURESHI AKHTAR"
        " MOHAMMADI HOSSEINI AHMADI REZAEI KARIMI MOUSAVI JAFARI RAHIMI SADEGHI HASHEMI"
        " NOURI TEHRANI AZIZI"
    ),
    "slavic": _zipf(
        "NOWAK KOWALSKI WISNIEWSKI WOJCIK KOWALCZYK KAMINSKI LEWANDOWSKI ZIELINSKI"
        " SZYMANSKI WOZNIAK DABROWSKI KOZLOWSKI SHEVCHENKO KOVALENKO BONDARENKO TKACHENKO"
        " KRAVCHENKO MELNYK OLIYNYK POLISHCHUK IVANOV SMIRNOV KUZNETSOV POPOV VASILIEV"
        " PETROV SOKOLOV MIKHAILOV NOVIKOV FEDOROV MOROZOV VOLKOV ALEKSEEV LEBEDEV"
    ),
    "italian": _zipf(
        "ROSSI RUSSO FERRARI ESPOSITO BIANCHI ROMANO COLOMBO RICCI MARINO GRECO BRUNO GALLO"
        " CONTI DEMARCO COSTA"
    ),
}

# First names as (male, female) pools, most common first.
_FIRST_NAMES: Final = {
    "hispanic": (
        _zipf(
            "JOSE JUAN LUIS CARLOS JESUS JORGE MIGUEL FRANCISCO ANTONIO PEDRO MANUEL RICARDO"
            " ALEJANDRO FERNANDO JAVIER ROBERTO DAVID MARIO SERGIO RAFAEL EDUARDO OSCAR ANGEL"
            " VICTOR HECTOR RAUL ARMANDO ERNESTO RAMON ALBERTO"
        ),
        _zipf(
            "MARIA GUADALUPE ANA ROSA JUANA MARTHA VERONICA ELIZABETH LETICIA PATRICIA LAURA"
            " GABRIELA ALEJANDRA CLAUDIA SANDRA CARMEN ADRIANA MARIBEL SILVIA ALMA YESENIA"
            " BLANCA LORENA TERESA DIANA ESPERANZA ROSARIO IRMA NORMA LUCIA"
        ),
    ),
    "chinese": (
        _zipf("WEI JUN MING LEI HAO YONG JIAN TAO BIN QIANG GANG JIE"),
        _zipf("LI MEI XIU YAN HUI JING LING XIAO YING FANG HONG NA"),
    ),
    "vietnamese": (
        _zipf("MINH HUNG TUAN DUNG THANH HAI NAM LONG QUANG KHANH DUC VINH"),
        _zipf("LAN HUONG THAO LINH MAI HOA NGOC TRANG HANH PHUONG THU HA"),
    ),
    "english": (
        _zipf(
            "JOHN MICHAEL DAVID JAMES ROBERT MARK PAUL RICHARD ANDREW PETER CHRISTOPHER"
            " DANIEL ANTHONY STEVEN KEVIN GARY TREVOR DWAYNE WINSTON DELROY"
        ),
        _zipf(
            "MARY SARAH ELIZABETH JENNIFER SUSAN LISA KAREN MICHELLE EMMA RACHEL NICOLE"
            " SHARON PATRICIA ANGELA DONNA JOY GRACE MARCIA CHERYL SHANTEL"
        ),
    ),
    "french": (
        _zipf("JEAN PIERRE JOSEPH MARC JACQUES LOUIS FRANTZ WILNER RONALD EMMANUEL"),
        _zipf("MARIE ROSE NADEGE GUERDA MARTHE JOSETTE FABIOLA ISABELLE MIRLANDE ROSELINE"),
    ),
    "portuguese": (
        _zipf("JOAO PAULO CARLOS LUCAS GABRIEL RAFAEL MARCOS THIAGO FELIPE RODRIGO"),
        _zipf("MARIA ANA FERNANDA JULIANA PATRICIA ALINE CAMILA BRUNA LETICIA VANESSA"),
    ),
    "african": (
        _zipf("CHINEDU EMEKA OLUWASEUN IBRAHIM KWAME KOFI YAW SAMUEL DAWIT ABEBE TUNDE MUSA"),
        _zipf("NGOZI CHIAMAKA AMINA FATIMA ABENA AKOSUA ADWOA GRACE MERON HIWOT FUNMI BLESSING"),
    ),
    "mideast": (
        _zipf("MUHAMMAD ALI AHMED HASSAN OMAR IMRAN BILAL REZA MEHDI AMIR HAMID FARHAD"),
        _zipf("FATIMA AYESHA SANA MARYAM ZAINAB NADIA SARA LEILA NARGES SHIRIN PARISA ZAHRA"),
    ),
    "slavic": (
        _zipf("PIOTR TOMASZ ANDRZEJ OLEKSANDR SERHIY DMYTRO IVAN SERGEI ALEXEI DMITRI VIKTOR YURI"),
        _zipf("ANNA KATARZYNA AGNIESZKA OKSANA OLENA NATALIA IRINA SVETLANA TATIANA OLGA YULIA"),
    ),
    "italian": (
        _zipf("GIUSEPPE GIOVANNI ANTONIO MARCO LUCA FRANCESCO ALESSANDRO MATTEO"),
        _zipf("GIULIA FRANCESCA CHIARA SARA VALENTINA ELENA SILVIA PAOLA"),
    ),
}


@dataclass(frozen=True, slots=True)
class _Birthplace:
    """A place of birth (NCIC country code) and the name pools of people born there."""

    pob: str
    surnames: _Weighted[str]
    male: _Weighted[str]
    female: _Weighted[str]
    weight: int  # rough share of the LESC caseload
    nseers: bool  # NSEERS registration applied to men from these countries


def _birthplace(
    pob: str, surnames: str, first_names: str, weight: int, nseers: bool = False
) -> _Birthplace:
    male, female = _FIRST_NAMES[first_names]
    return _Birthplace(pob, _SURNAMES[surnames], male, female, weight, nseers)


# NCIC country codes: they differ from ISO where ISO would clash with a state code.
_PLACES: Final = (
    _birthplace("MX", "hispanic", "hispanic", 300),
    _birthplace("GT", "hispanic", "hispanic", 70),
    _birthplace("ES", "hispanic", "hispanic", 65),  # El Salvador
    _birthplace("HO", "hispanic", "hispanic", 55),  # Honduras
    _birthplace("NU", "hispanic", "hispanic", 15),  # Nicaragua
    _birthplace("CU", "hispanic", "hispanic", 35),
    _birthplace("DR", "hispanic", "hispanic", 40),  # Dominican Republic
    _birthplace("EC", "hispanic", "hispanic", 20),
    _birthplace("VE", "hispanic", "hispanic", 25),
    _birthplace("CH", "chinese", "chinese", 55),  # China
    _birthplace("VM", "vietnamese", "vietnamese", 35),  # Vietnam
    _birthplace("RP", "filipino", "english", 45),  # Philippines
    _birthplace("HA", "haitian", "french", 25),  # Haiti
    _birthplace("JM", "english", "english", 15),
    _birthplace("UK", "english", "english", 10),
    _birthplace("BR", "portuguese", "portuguese", 15),
    _birthplace("NI", "african", "african", 15),  # Nigeria
    _birthplace("GH", "african", "african", 8),
    _birthplace("ET", "african", "african", 8),
    _birthplace("PK", "mideast", "mideast", 10, nseers=True),
    _birthplace("IR", "mideast", "mideast", 8, nseers=True),
    _birthplace("PL", "slavic", "slavic", 8),
    _birthplace("UP", "slavic", "slavic", 10),  # Ukraine
    _birthplace("RS", "slavic", "slavic", 8),  # Russia
    _birthplace("IT", "italian", "italian", 5),
)
_BIRTHPLACES: Final = _Weighted(_PLACES, [place.weight for place in _PLACES])
_STATUS: Final = _codes("USC:30 LPR:35 NIV:15 OOS:12 REM:8")
# Classes of admission by status: immigrant classes for citizens (their admission before
# naturalising) and residents, visas for visitors, entry without inspection for many others.
_COA: Final = {
    "USC": _codes("IR1:25 CR1:10 IR2:15 IR5:10 F21:15 EB2:10 DV:5 RE:10"),
    "LPR": _codes("IR1:20 CR1:10 IR2:10 IR5:10 F21:15 EB2:10 EB3:8 DV:7 RE:10"),
    "NIV": _codes("F1:25 H1B:25 B2:20 B1:5 J1:8 L1:7 TN:4 H2A:6"),
    "OOS": _codes("EWI:55 B2:25 F1:8 H1B:4 H2A:5 J1:3"),
    "REM": _codes("EWI:65 B2:15 F1:5 IR1:10 CR1:5"),
}
_MALE_SHARE: Final = 0.52
_MIDDLE_SHARE: Final = 0.55
_DEPORTED_FELON_SHARE: Final = 0.12  # of REM
_ABSCONDER_SHARE: Final = 0.08  # of OOS
_NSEERS_SHARE: Final = 0.2  # of OOS men from NSEERS countries
_DOB_FIRST: Final = date(1940, 1, 1).toordinal()
_DOB_LAST: Final = date(2008, 12, 31).toordinal()
_DOB_MODE: Final = date(1982, 1, 1).toordinal()
# The synthetic index is "as of" a fixed day, not today, so a seed always gives the same rows.
_AS_OF: Final = date(2025, 6, 30).toordinal()


def _synthetic_rows(count: int, seed: int) -> Iterator[_Row]:
    rng = random.Random(seed)
    uniform = rng.random
    # Every date the rows can hold, formatted once: cheaper than formatting 2M dates.
    days = [format_ccyymmdd(date.fromordinal(day)) for day in range(_DOB_FIRST, _AS_OF + 1)]
    codes: dict[str, str] = {}
    arn = 10_000_000
    nic = 100_000_000
    for _ in range(count):
        place = _BIRTHPLACES.pick(uniform())
        last = place.surnames.pick(uniform())
        male = uniform() < _MALE_SHARE
        names = place.male if male else place.female
        first = names.pick(uniform())
        middle = names.pick(uniform()) if uniform() < _MIDDLE_SHARE else ""
        if middle == first:
            middle = ""
        dob = int(rng.triangular(_DOB_FIRST, _DOB_LAST + 1, _DOB_MODE))
        status = _STATUS.pick(uniform())
        # The status was granted (or the person removed) a while after birth.
        span = _AS_OF - dob
        status_day = dob + span // 4 + int(uniform() * (span - span // 4))
        ivf: str | None = None
        if status == "REM" and uniform() < _DEPORTED_FELON_SHARE:
            ivf = "DEPORTED FELON"
        elif status == "OOS":
            draw = uniform()
            if draw < _ABSCONDER_SHARE:
                ivf = "ABSCONDER"
            elif place.nseers and male and draw < _ABSCONDER_SHARE + _NSEERS_SHARE:
                ivf = "NSEERS VIOLATOR"
        nic_text: str | None = None
        if ivf is not None:
            nic += 1 + int(uniform() * 97)
            nic_text = f"I{nic:09d}"
        # Increasing A-numbers with gaps: unique, and inserted in index order.
        arn += 1 + int(uniform() * 399)
        code = codes.get(last)
        if code is None:
            code = codes[last] = soundex(last)
        yield (
            f"{arn:09d}", last, first, middle, days[dob - _DOB_FIRST], "M" if male else "F",
            place.pob, status, _COA[status].pick(uniform()), days[status_day - _DOB_FIRST],
            ivf, nic_text, code, first[0],
        )  # fmt: skip


def build_synthetic(path_db: Path, count: int = 1_000_000, seed: int = 0) -> int:
    """Build a deterministic synthetic index of ``count`` records; returns the count."""
    if count < 0:
        raise ValueError("count must not be negative")
    return _build(path_db, _batched(_synthetic_rows(count, seed)))
