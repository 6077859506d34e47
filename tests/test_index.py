"""The immigration index on real SQLite files: CSV and synthetic builds, every lookup."""

import csv
import sqlite3
import sys
from array import array
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from formats.datafile import DataFileError
from formats.soundex import soundex
from gateway.cli import app
from responders.lesc.index import (
    _KEYS,
    MAX_MATCHES,
    ImmigrationIndex,
    Record,
    _find,
    _slots,
    build_synthetic,
    normalize_arn,
    sidecar_path,
)
from responders.lesc.records import RecordRow, build_from_csv, ensure_index

# The records CSV's columns, in the order the model declares them.
CSV_COLUMNS = RecordRow.columns()
HEADER = ",".join(CSV_COLUMNS)
ROWS = [
    "A012345678,GARCIA,MARIA,ELENA,19850314,F,MX,LPR,IR1,20100501,,",
    "98765432,SMITH,JOHN,,19800202,M,UK,NIV,H1B,20150101,,",
    "011111111,SMYTH,JAMES,PAUL,19800202,M,UK,OOS,B2,20190315,,",
    "011111112,SMYTHE,JANE,,19800202,F,UK,LPR,CR1,20120202,,",
    "011111113,SCHMIDT,JOSEF,,19800202,U,PL,USC,IR1,20050505,,",
    "033333333,lopez,carlos,,19750505,m,mx,rem,ewi,20120202,DEPORTED FELON,i123456789",
    "033333334,LOPES,CESAR,,19750505,M,BR,OOS,B2,20200303,ABSCONDER,I987654321",
    "033333335,LOPEZ,CARLA,,19750505,F,MX,USC,IR2,19900101,,",
    '044444444,"DE LA CRUZ",ROSA,,19920909,F,ES,OOS,EWI,20200303,,',
    "055555555,O'BRIEN,SEAN,,19881111,M,UK,NIV,F1,20210808,,",
]


def write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ImmigrationIndex]:
    db = tmp_path / "index.sqlite3"
    assert build_from_csv(db, write_csv(tmp_path / "records.csv", ROWS)) == len(ROWS)
    opened = ImmigrationIndex.open(db)
    yield opened
    opened.close()


def table(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT * FROM record ORDER BY arn").fetchall()


def test_len_and_files(index: ImmigrationIndex, tmp_path: Path) -> None:
    assert len(index) == len(ROWS)
    # The temporary build file was renamed into place, and the index is left in WAL mode.
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with sqlite3.connect(tmp_path / "index.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_by_arn(index: ImmigrationIndex) -> None:
    garcia = Record(
        "012345678", "GARCIA", "MARIA", "ELENA", date(1985, 3, 14), "F", "MX", "LPR", "IR1",
        date(2010, 5, 1), None, None,
    )  # fmt: skip
    for arn in ("A012345678", "012345678", "12345678", "a12345678", " A012345678 "):
        assert index.by_arn(arn) == garcia
    smith = index.by_arn("A98765432")
    assert smith is not None and smith.arn == "098765432"
    for arn in ("A0123456789", "A1234567", "AA12345678", "", "X12345678", "999999999"):
        assert index.by_arn(arn) is None


@pytest.mark.parametrize(
    ("value", "normal"),
    [("A012345678", "012345678"), ("12345678", "012345678"), ("a 123", None), ("", None)],
)
def test_normalize_arn(value: str, normal: str | None) -> None:
    assert normalize_arn(value) == normal


def test_by_nic(index: ImmigrationIndex) -> None:
    lopez = index.by_nic("I123456789")
    assert lopez is not None
    assert (lopez.last, lopez.first, lopez.sex, lopez.status, lopez.coa) == (
        "LOPEZ", "CARLOS", "M", "REM", "EWI",
    )  # fmt: skip
    assert (lopez.ivf, lopez.nic) == ("DEPORTED FELON", "I123456789")
    assert index.by_nic("i987654321") == index.by_arn("033333334")
    assert index.by_nic("I000000000") is None
    assert index.by_nic("") is None


def test_soundex_name_match(index: ImmigrationIndex) -> None:
    assert soundex("SMITH") == soundex("SMYTH") == soundex("SMYTHE")
    found = index.by_name("SMITH", "JOHN", date(1980, 2, 2), None)
    # Exact surname and first name first, then the other spellings by A-number; SCHMIDT
    # (S530 too) matches, JOSEF shares the initial.
    assert [r.arn for r in found] == ["098765432", "011111111", "011111112", "011111113"]
    # Lower case is fine; with only an initial, the exact surname leads, then A-number order.
    assert [r.last for r in index.by_name("smyth", "j", date(1980, 2, 2), None)] == [
        "SMYTH", "SMYTHE", "SCHMIDT", "SMITH",
    ]  # fmt: skip


def test_sex_filter(index: ImmigrationIndex) -> None:
    dob = date(1980, 2, 2)
    # A record of unknown sex stays in whichever sex is asked for.
    assert [r.arn for r in index.by_name("SMITH", "J", dob, "M")] == [
        "098765432", "011111111", "011111113",
    ]  # fmt: skip
    assert [r.arn for r in index.by_name("SMITH", "J", dob, "F")] == ["011111112", "011111113"]
    assert len(index.by_name("SMITH", "J", dob, "U")) == 4
    assert len(index.by_name("SMITH", "J", dob, None)) == 4


def test_no_match(index: ImmigrationIndex) -> None:
    assert index.by_name("SMITH", "JOHN", date(1980, 2, 3), None) == []
    assert index.by_name("SMITH", "PETER", date(1980, 2, 2), None) == []
    assert index.by_name("JONES", "JOHN", date(1980, 2, 2), None) == []
    assert index.by_name("", "JOHN", date(1980, 2, 2), None) == []
    assert index.by_name("SMITH", " ", date(1980, 2, 2), None) == []
    assert index.by_name("123", "JOHN", date(1980, 2, 2), None) == []


def test_compound_and_punctuated_surnames(index: ImmigrationIndex) -> None:
    found = index.by_name("DELACRUZ", "ROSA", date(1992, 9, 9), "F")
    assert [r.last for r in found] == ["DE LA CRUZ"]
    assert [r.last for r in index.by_name("OBRIEN", "S", date(1988, 11, 11), "M")] == ["O'BRIEN"]


def test_ivf_by_name(index: ImmigrationIndex) -> None:
    dob = date(1975, 5, 5)
    assert [r.last for r in index.by_name("LOPEZ", "C", dob, None)] == ["LOPEZ", "LOPEZ", "LOPES"]
    found = index.ivf_by_name("LOPEZ", "CARLOS", dob, None)
    assert [(r.last, r.ivf) for r in found] == [("LOPEZ", "DEPORTED FELON"), ("LOPES", "ABSCONDER")]
    assert index.ivf_by_name("LOPEZ", "C", dob, "F") == []
    assert index.ivf_by_name("GARCIA", "MARIA", date(1985, 3, 14), "F") == []


def test_at_most_twenty_matches(tmp_path: Path) -> None:
    rows = [f"{100000000 + n},NGUYEN,THANH,,19900707,M,VM,LPR,IR5,20150606,," for n in range(25)]
    db = tmp_path / "many.sqlite3"
    build_from_csv(db, write_csv(tmp_path / "many.csv", rows))
    index = ImmigrationIndex.open(db)
    try:
        found = index.by_name("NGUYEN", "T", date(1990, 7, 7), "M")
        assert len(found) == MAX_MATCHES
        assert [r.arn for r in found] == sorted(r.arn for r in found)
    finally:
        index.close()


GOOD = "012345678,GARCIA,MARIA,ELENA,19850314,F,MX,LPR,IR1,20100501,,"


@pytest.mark.parametrize(
    ("bad", "column"),
    [
        ("A1234567,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,20100501,,", "arn"),
        ("0123456789,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,20100501,,", "arn"),
        ("A012345678,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,20100501,,", "arn"),  # repeated
        ("099999999,,MARIA,,19850314,F,MX,LPR,IR1,20100501,,", "last"),
        ("099999999,GARC1A,MARIA,,19850314,F,MX,LPR,IR1,20100501,,", "last"),
        ("099999999,GARCIA,-,,19850314,F,MX,LPR,IR1,20100501,,", "first"),
        ("099999999,GARCIA,MARIA,E.,19850314,F,MX,LPR,IR1,20100501,,", "middle"),
        ("099999999,GARCIA,MARIA,,1985031,F,MX,LPR,IR1,20100501,,", "dob"),
        ("099999999,GARCIA,MARIA,,19850230,F,MX,LPR,IR1,20100501,,", "dob"),
        ("099999999,GARCIA,MARIA,,19850314,X,MX,LPR,IR1,20100501,,", "sex"),
        ("099999999,GARCIA,MARIA,,19850314,F,MEX,LPR,IR1,20100501,,", "pob"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,LEGAL,IR1,20100501,,", "status"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,LPR,IR-1,20100501,,", "coa"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,2010-05-01,,", "status_date"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,19800101,,", "status_date"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,REM,EWI,20100501,FELON,I000000001", "ivf"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,REM,EWI,20100501,ABSCONDER,", "nic"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,REM,EWI,20100501,,I000000001", "nic"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,REM,EWI,20100501,ABSCONDER,I00000001", "nic"),
        ("099999999,GARCIA,MARIA,,19850314,F,MX,LPR,IR1", "status_date"),  # short row
    ],
)
def test_bad_rows_name_line_and_column(tmp_path: Path, bad: str, column: str) -> None:
    db = tmp_path / "index.sqlite3"
    csv_path = write_csv(tmp_path / "records.csv", [GOOD, bad])
    with pytest.raises(DataFileError, match=rf"^{csv_path} line 3, column {column}: "):
        build_from_csv(db, csv_path)
    # A failed build leaves neither the index nor its temporary file.
    assert [p.name for p in tmp_path.iterdir()] == ["records.csv"]


def test_repeated_nic_is_rejected(tmp_path: Path) -> None:
    rows = [
        "011111111,LOPEZ,ANA,,19850314,F,MX,OOS,B2,20100501,ABSCONDER,I000000001",
        "011111112,LOPEZ,ANA,,19850314,F,MX,OOS,B2,20100501,ABSCONDER,I000000001",
    ]
    with pytest.raises(DataFileError, match=r"line 3, column nic: I000000001 is also on line 2;"):
        build_from_csv(tmp_path / "x.sqlite3", write_csv(tmp_path / "r.csv", rows))


def test_bad_header(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "records.csv", [GOOD], header=HEADER.replace("coa", "class"))
    with pytest.raises(DataFileError, match=r"line 1, column class: unknown column; .*arn,last,"):
        build_from_csv(tmp_path / "index.sqlite3", csv_path)


def test_header_order_and_case_are_free(tmp_path: Path) -> None:
    columns = [name.upper() for name in reversed(CSV_COLUMNS)]
    reordered = ",".join(reversed(GOOD.split(",")))
    db = tmp_path / "index.sqlite3"
    assert build_from_csv(db, write_csv(tmp_path / "r.csv", [reordered], ",".join(columns))) == 1
    index = ImmigrationIndex.open(db)
    try:
        found = index.by_arn("012345678")
        assert found is not None and (found.last, found.dob) == ("GARCIA", date(1985, 3, 14))
    finally:
        index.close()


def test_empty_class_of_admission_and_status_date(tmp_path: Path) -> None:
    # A citizen by birth: no class of admission, no status date; the index keeps them empty.
    row = "022222222,JOHNSON,PETER,,19700101,M,US,USC,,,,"
    db = tmp_path / "index.sqlite3"
    assert build_from_csv(db, write_csv(tmp_path / "r.csv", [GOOD, row])) == 2
    index = ImmigrationIndex.open(db)
    try:
        johnson = index.by_arn("022222222")
        assert johnson is not None
        assert (johnson.coa, johnson.status_date, johnson.status) == ("", None, "USC")
    finally:
        index.close()


def test_rebuild_replaces_the_file(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite3"
    build_from_csv(db, write_csv(tmp_path / "a.csv", ROWS))
    old = ImmigrationIndex.open(db)
    build_from_csv(db, write_csv(tmp_path / "b.csv", [GOOD]))
    new = ImmigrationIndex.open(db)
    try:
        # The open index keeps reading the file it opened; a new open sees the new one.
        assert (len(old), len(new)) == (len(ROWS), 1)
        assert old.by_arn("098765432") is not None and new.by_arn("098765432") is None
    finally:
        old.close()
        new.close()


def test_open_rejects_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ImmigrationIndex.open(tmp_path / "missing.sqlite3")
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(ValueError, match="as an immigration index"):
        ImmigrationIndex.open(junk)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    with pytest.raises(ValueError, match="as an immigration index"):
        ImmigrationIndex.open(other)


def test_synthetic_is_deterministic(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{name}.sqlite3" for name in "abc")
    assert build_synthetic(a, 5_000) == build_synthetic(b, 5_000, seed=0) == 5_000
    build_synthetic(c, 5_000, seed=1)
    assert table(a) == table(b)
    assert table(a) != table(c)


def test_synthetic_rows_are_valid_csv_records(tmp_path: Path) -> None:
    synthetic = tmp_path / "synthetic.sqlite3"
    build_synthetic(synthetic, 5_000, seed=3)
    rows = table(synthetic)
    csv_path = tmp_path / "synthetic.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(row[: len(CSV_COLUMNS)] for row in rows)
    rebuilt = tmp_path / "rebuilt.sqlite3"
    assert build_from_csv(rebuilt, csv_path) == 5_000
    assert table(rebuilt) == rows


def test_synthetic_shape_and_multiple_matches(tmp_path: Path) -> None:
    db = tmp_path / "synthetic.sqlite3"
    count = 100_000
    assert build_synthetic(db, count, seed=5) == count
    with sqlite3.connect(db) as connection:
        statuses = dict(connection.execute("SELECT status, count(*) FROM record GROUP BY status"))
        in_ivf = connection.execute("SELECT count(*) FROM record WHERE ivf IS NOT NULL")
        bad = connection.execute(
            "SELECT count(*) FROM record WHERE status_date <= dob OR dob < '19400101'"
            " OR dob > '20081231' OR length(arn) != 9 OR (ivf IS NULL) != (nic IS NULL)"
        )
        keys = connection.execute(
            "SELECT last, first, dob FROM record GROUP BY soundex, finit, dob"
            " HAVING count(*) > 1 ORDER BY soundex, finit, dob LIMIT 50"
        ).fetchall()
        ivf_count, bad_count = in_ivf.fetchone()[0], bad.fetchone()[0]
    assert bad_count == 0
    for status, share in {"USC": 0.30, "LPR": 0.35, "NIV": 0.15, "OOS": 0.12, "REM": 0.08}.items():
        assert abs(statuses[status] / count - share) < 0.01
    assert 0.015 < ivf_count / count < 0.025
    assert len(keys) == 50
    index = ImmigrationIndex.open(db)
    try:
        assert len(index) == count
        for last, first, dob in keys:
            found = index.by_name(last, first, date.fromisoformat(dob), None)
            assert len(found) > 1
            assert found[0].last == last
    finally:
        index.close()


# The name search as the index answered it from SQLite before its packed form (issue 13): the
# oracle the packed answers must match.
ORACLE = (
    "SELECT arn FROM record WHERE soundex = ? AND finit = ? AND dob = ?"
    " AND (? IS NULL OR sex IN (?, 'U')) AND (? = 0 OR ivf IS NOT NULL)"
    f" ORDER BY last = ? DESC, first = ? DESC, arn LIMIT {MAX_MATCHES}"
)


def oracle(db: sqlite3.Connection, last: str, first: str, dob: date, sex: str | None,
           ivf_only: bool) -> list[str]:
    wanted = None if sex in (None, "U") else sex
    params = (soundex(last), first[0], dob.strftime("%Y%m%d"), wanted, wanted, int(ivf_only),
              last, first)
    return [arn for (arn,) in db.execute(ORACLE, params)]


def test_packed_answers_are_the_sqlite_answers(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.sqlite3"
    build_synthetic(path, 20_000, seed=5)
    index = ImmigrationIndex.open(path)
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT arn, last, first, dob, nic FROM record ORDER BY random() LIMIT 1500"
        ).fetchall()
        for arn, last, first, dob_text, nic in rows:
            dob = date(int(dob_text[:4]), int(dob_text[4:6]), int(dob_text[6:]))
            for sex in (None, "U", "M", "F"):
                found = [r.arn for r in index.by_name(last, first, dob, sex)]
                assert found == oracle(db, last, first, dob, sex, False)
                ivf = [r.arn for r in index.ivf_by_name(last, first, dob, sex)]
                assert ivf == oracle(db, last, first, dob, sex, True)
            record = index.by_arn(arn)
            assert record is not None and record.arn == arn
            if nic is not None:
                assert index.by_nic(nic) == record
        # An A-number between two stored ones, and one past the last.
        stored = {int(arn) for (arn,) in db.execute("SELECT arn FROM record")}
        missing = next(n for n in range(min(stored), max(stored)) if n not in stored)
        assert index.by_arn(f"{missing:09d}") is None
        assert index.by_arn(f"{max(stored) + 1:09d}") is None
    index.close()


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=200),
       st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20))
def test_the_hash_table_finds_each_first_occurrence(values: list[int], others: list[int]) -> None:
    values.sort()
    keys = array(_KEYS, values)
    slots = memoryview(_slots(keys))
    for value in set(values) | set(others):
        assert _find(slots, memoryview(keys), value) == (
            values.index(value) if value in values else -1
        )


def answers_of(path: Path) -> list[object]:
    """What an index file answers to a name search and an A-number lookup."""
    index = ImmigrationIndex.open(path)
    try:
        return [index.by_name("SMITH", "JOHN", date(1980, 2, 2), None), index.by_arn("98765432")]
    finally:
        index.close()


def test_an_index_built_before_the_sidecar_is_read_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "index-records.sqlite3"
    records = write_csv(tmp_path / "records.csv", ROWS)
    build_from_csv(path, records)
    answers = answers_of(path)
    # As schema 2 wrote it: the packed form in the file, no sidecar, no build stamp.
    sidecar_path(path).unlink()
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM meta WHERE key = 'build'")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    assert answers_of(path) == answers
    # The records CSV is older than the index, yet the index is built again, with a sidecar.
    assert ensure_index(path, records, 0) == "rebuilt"
    assert sidecar_path(path).is_file()
    assert ensure_index(path, records, 0) == "reused"


def test_the_sidecar_is_mapped_in_place(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    build_from_csv(path, write_csv(tmp_path / "records.csv", ROWS))
    # The build leaves the index, its sidecar and the records: no temporary file.
    assert {p.name for p in tmp_path.iterdir()} == {
        "index.sqlite3", "index.sqlite3.packed", "records.csv"
    }
    index = ImmigrationIndex.open(path)
    # Opening copies nothing: the sidecar's own pages are what the process maps.
    maps = Path("/proc/self/maps").read_text()
    assert str(sidecar_path(path).resolve()) in maps
    new = {p.name for p in tmp_path.iterdir()} - {"index.sqlite3", "index.sqlite3.packed",
                                                  "records.csv"}
    assert new <= {"index.sqlite3-wal", "index.sqlite3-shm"}
    smith = index.by_arn("98765432")
    assert smith is not None and smith.last == "SMITH"
    index.close()


def stale_sidecars(path: Path, other: Path) -> Iterator[tuple[str, bytes]]:
    """Sidecars that are not the packed form of ``path``: another build's, one cut short, one
    of another schema, one of another byte order, an empty one."""
    good = sidecar_path(path).read_bytes()
    yield "another build", sidecar_path(other).read_bytes()
    yield "cut short", good[: len(good) - 8]
    yield "another schema", good[:8] + b"2".ljust(8, b"\0") + good[16:]
    order = b"big" if sys.byteorder == "little" else b"little"
    yield "another byte order", good[:16] + order.ljust(8, b"\0") + good[24:]
    yield "empty", b""


def test_a_stale_or_missing_sidecar_is_never_used_and_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "index-records.sqlite3"
    records = write_csv(tmp_path / "records.csv", ROWS)
    build_from_csv(path, records)
    answers = answers_of(path)
    # The same file name, other records: its sidecar would answer SMITH with someone else.
    other = tmp_path / "other" / "index-records.sqlite3"
    build_from_csv(other, write_csv(tmp_path / "other.csv", [
        "098765432,SMITH,JOHN,,19800202,M,UK,REM,EWI,20150101,,",
        "011111111,SMITH,JOHN,,19800202,M,MX,USC,IR1,20150101,,",
    ]))  # fmt: skip
    good = sidecar_path(path).read_bytes()
    for what, data in stale_sidecars(path, other):
        sidecar_path(path).write_bytes(data)
        assert answers_of(path) == answers, what
        assert ensure_index(path, records, 0) == "repacked", what
        assert sidecar_path(path).read_bytes()[100:] == good[100:], what
        assert ensure_index(path, records, 0) == "reused", what
    sidecar_path(path).unlink()
    assert answers_of(path) == answers
    assert ensure_index(path, records, 0) == "repacked"
    assert answers_of(path) == answers


def run_cli(args: list[str]) -> Result:
    """``iaqgw ARGS`` in-process."""
    return CliRunner().invoke(app, args)


def test_data_build_writes_a_missing_sidecar(tmp_path: Path) -> None:
    records = write_csv(tmp_path / "people.csv", ROWS)
    args = ["data", "build", "--data-dir", str(tmp_path), "--records", str(records)]
    assert run_cli(args).stdout.startswith("index built: ")
    path = tmp_path / "index-people.sqlite3"
    sidecar_path(path).unlink()
    result = run_cli(args)
    assert result.exit_code == 0
    assert result.stdout == (
        f"index repacked (its packed form index-people.sqlite3.packed was missing or stale):"
        f" {path}\n"
    )
