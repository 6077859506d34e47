"""Data files as people export them (SPEC.md §5): records, line and ORI registries on real files.

Refusals go through ``iaqgw data build`` and ``iaqgw serve`` (typer's CliRunner): one line
naming the file, the line, the column, the rule and the fix, exit 2, never a traceback.
"""

import csv
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lesc_support import lesc_of
from messages import am, iaq
from typer.testing import CliRunner

from formats.datafile import DataFileError
from formats.errors import ErrorCode
from formats.notices import parse_er_body
from gateway.app import Gateway
from gateway.cli import app
from gateway.datafiles import load_lines, load_oris
from gateway.logs import configure_logging
from responders.lesc.index import ImmigrationIndex
from responders.lesc.records import RecordRow, build_from_csv, ensure_index
from routing.lines import LINE_CODES, Line, dev_key, is_plain_key, verify_key
from routing.oris import Ori, synthetic_oris
from simulator.client import LineClient

# The records CSV's columns, in the order the model declares them.
CSV_COLUMNS = RecordRow.columns()
HEADER = "arn,last,first,middle,dob,sex,pob,status,coa,status_date,ivf,nic"
GARCIA = "012345678,GARCIA,MARIA,ELENA,19850314,F,MX,LPR,IR1,20100501,,"
TODAY = date(2025, 1, 1)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # `serve` configures logging for the CliRunner's stdout; put the tests' set-up back.
    yield
    configure_logging("json", os.environ.get("IAQGW_TEST_LOG_LEVEL", "WARNING"))


def write(path: Path, *lines: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    """A file of these lines, each ended by ``newline``."""
    path.write_bytes("".join(line + newline for line in lines).encode(encoding))
    return path


def iaqgw(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``iaqgw ARGS`` in-process; returns (exit code, stdout and stderr)."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def build(tmp_path: Path, records: Path) -> tuple[int, str]:
    """``iaqgw data build`` of ``records`` into tmp_path/data."""
    return iaqgw("data", "build", "--records", str(records), "--data-dir", str(tmp_path / "data"))


def refused(code: int, out: str) -> str:
    """The one-line refusal of a command that exited 2."""
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert "Traceback" not in out
    return lines[0]


# --------------------------------------------------------------------------------------------
# Records CSV (--records)


def test_citizen_by_birth_without_class_of_admission_builds(tmp_path: Path) -> None:
    records = write(
        tmp_path / "records.csv",
        HEADER,
        GARCIA,
        "098765432,JOHNSON,PETER,,19700101,M,US,USC,,,,",
    )
    code, out = build(tmp_path, records)
    assert code == 0, out
    assert out.startswith("index built")


def test_names_case_spaces_bom_and_crlf_as_exported(tmp_path: Path) -> None:
    records = write(
        tmp_path / "records.csv",
        "\ufeff" + HEADER.upper(),
        " 012345678 , o'brien , sean ,, 19881111 , m , uk , niv , f1 , 20210808 ,,",
        '044444444,"De La Cruz",Rosa,,19920909,F,ES,OOS,EWI,20200303,,',
        "055555555,SMITH-JONES,ANNE,MARIE,19900101,F,UK,LPR,IR1,20150101,absconder,i123456789",
        newline="\r\n",
    )
    code, out = build(tmp_path, records)
    assert code == 0, out


def test_latin1_file_is_refused_with_its_line(tmp_path: Path) -> None:
    records = write(
        tmp_path / "records.csv",
        HEADER,
        GARCIA,
        "044444444,MUÑOZ,ROSA,,19920909,F,ES,OOS,EWI,20200303,,",
        encoding="latin-1",
    )
    line = refused(*build(tmp_path, records))
    assert "line 3, column last" in line
    assert "save the file as UTF-8" in line


def test_header_names_the_missing_column(tmp_path: Path) -> None:
    records = write(tmp_path / "records.csv", HEADER.replace(",dob", ""), GARCIA)
    line = refused(*build(tmp_path, records))
    assert "line 1" in line and "dob" in line


def test_header_names_the_unknown_column(tmp_path: Path) -> None:
    records = write(tmp_path / "records.csv", HEADER.replace("coa", "class"), GARCIA)
    line = refused(*build(tmp_path, records))
    assert "line 1, column class: unknown column" in line


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    records = write(tmp_path / "records.csv", HEADER)
    line = refused(*build(tmp_path, records))
    assert "no rows" in line
    assert not (tmp_path / "data" / "index-records.sqlite3").exists()


def test_birth_in_the_future_is_refused(tmp_path: Path) -> None:
    records = write(
        tmp_path / "records.csv", HEADER, "012345678,GARCIA,MARIA,,20990314,F,MX,LPR,IR1,,,"
    )
    line = refused(*build(tmp_path, records))
    assert "line 2, column dob: 20990314 is after today" in line


def test_data_build_says_built_rebuilt_or_reused(tmp_path: Path) -> None:
    records = write(tmp_path / "records.csv", HEADER, GARCIA)
    index = tmp_path / "data" / "index-records.sqlite3"
    code, out = build(tmp_path, records)
    assert (code, out) == (0, f"index built: {index}\n")
    code, out = build(tmp_path, records)
    assert (code, out) == (0, f"index reused (up to date with {records.name}): {index}\n")
    # Newer records make the index stale.
    os.utime(records, (index.stat().st_mtime + 10, index.stat().st_mtime + 10))
    code, out = build(tmp_path, records)
    assert (code, out) == (0, f"index rebuilt ({records.name} is newer): {index}\n")


# --------------------------------------------------------------------------------------------
# Line and ORI registries (--lines, --oris) through `serve`


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``iaqgw serve`` that is expected to refuse before it listens."""
    return iaqgw(
        "serve", "--port", "0", "--data-dir", str(tmp_path / "data"),
        "--synthetic-records", "50", *args, env=env,
    )  # fmt: skip


def test_serve_refuses_a_bad_line_registry_in_one_line(tmp_path: Path) -> None:
    lines = write(
        tmp_path / "lines.csv", "line,key,ice_office_ori,control_ori", "CA,K1,,", "T1,K2,,"
    )
    line = refused(*serve(tmp_path, "--lines", str(lines)))
    assert line.startswith(f"iaqgw: {lines} line 3, column line: 'T1' is not a line code")


def test_serve_refuses_a_bad_ori_registry_in_one_line(tmp_path: Path) -> None:
    oris = write(tmp_path / "oris.csv", "ori,line,agency", "CA0194200,CA,LASD", "TX227010,TX,PD")
    line = refused(*serve(tmp_path, "--oris", str(oris)))
    assert line.startswith(f"iaqgw: {oris} line 3, column ori: 'TX227010' is not an ORI")


def test_serve_refuses_bad_records_in_one_line(tmp_path: Path) -> None:
    records = write(tmp_path / "records.csv", HEADER)
    line = refused(*serve(tmp_path, "--records", str(records)))
    assert line.startswith(f"iaqgw: {records} line 2: no rows after the header; add records")


def test_mqtt_config_refuses_a_bad_line_registry_in_one_line(tmp_path: Path) -> None:
    lines = write(tmp_path / "lines.csv", "line,key", "CA,")
    line = refused(*iaqgw("mqtt-config", "--out", str(tmp_path / "out"), "--lines", str(lines)))
    assert line.startswith(f"iaqgw: {lines} line 2, column key: empty;")


def test_serve_names_the_setting_when_the_nics_ori_is_on_no_line(tmp_path: Path) -> None:
    lines = write(tmp_path / "lines.csv", "line,key", "CA,K1", "TX,K2")
    line = refused(*serve(tmp_path, "--lines", str(lines), env={"IAQGW_NICS_ORI": "NYFBINICS"}))
    assert "IAQGW_NICS_ORI" in line and "NYFBINICS" in line


def test_data_build_refuses_a_missing_records_file(tmp_path: Path) -> None:
    line = refused(*build(tmp_path, tmp_path / "nothing.csv"))
    assert line == f"iaqgw: --records: no file {tmp_path / 'nothing.csv'}"


# --------------------------------------------------------------------------------------------
# Records, value by value


def build_rows(tmp_path: Path, *rows: str, today: date = TODAY) -> ImmigrationIndex:
    """Build an index of these rows under HEADER and open it."""
    db = tmp_path / "index.sqlite3"
    build_from_csv(db, write(tmp_path / "records.csv", HEADER, *rows), today)
    return ImmigrationIndex.open(db)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "A1234567,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,20100501,,",
            "column arn: 'A1234567' is not an A-number; write 8 or 9 digits",
        ),
        (
            "012345678,,MARIA,,19850314,F,MX,LPR,IR1,20100501,,",
            "column last: empty; give the last name",
        ),
        (
            "012345678,GARCIA,-MARIA,,19850314,F,MX,LPR,IR1,20100501,,",
            "column first: '-MARIA' is not a name: it must start and end with a letter;",
        ),
        (
            "012345678,GARCIA,MARIA,E.,19850314,F,MX,LPR,IR1,20100501,,",
            "column middle: 'E.' is not a name: '.' is not a letter, space, hyphen or apostrophe",
        ),
        (
            "012345678,GARCIA,MARIA,,19850230,F,MX,LPR,IR1,20100501,,",
            "column dob: 19850230 is not a real date; correct the date of birth",
        ),
        (
            "012345678,GARCIA,MARIA,,20250102,F,MX,LPR,IR1,,,",
            "column dob: 20250102 is after today (20250101); correct the date of birth",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,X,MX,LPR,IR1,20100501,,",
            "column sex: 'X' is not M, F or U; write M, F or U (U when unknown)",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MEX,LPR,IR1,20100501,,",
            "column pob: 'MEX' is not a 2-letter country code; write the NCIC code",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,LEGAL,IR1,20100501,,",
            "column status: 'LEGAL' is not a status; write USC, LPR, NIV, OOS or REM",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,LPR,IR-1,20100501,,",
            "column coa: 'IR-1' is not a class of admission code; write 1 to 4 letters or digits",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,20250601,,",
            "column status_date: 20250601 is after today (20250101); correct the status date",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,19800101,,",
            "column status_date: 19800101 is before the date of birth 19850314;",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,OOS,EWI,,FELON,I123456789",
            "column ivf: 'FELON' is not an IVF category; write DEPORTED FELON, ABSCONDER or",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,OOS,EWI,,,I123456789",
            "column nic: 'I123456789' without an ivf category; give the ivf category",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,OOS,EWI,,ABSCONDER,I12345678",
            "column nic: 'I12345678' is not an NCIC number; write a letter and 9 digits",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,LPR,IR1",
            "column status_date: missing: the row has 9 values for 12 columns;",
        ),
        (
            "012345678,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,,,,JR",
            "line 3: 13 values for 12 columns; put quotes around values that hold a comma",
        ),
    ],
)
def test_refusals_name_line_column_rule_and_fix(tmp_path: Path, row: str, message: str) -> None:
    lee = "099999999,LEE,ANN,,19900101,F,CH,USC,,,,"
    records = write(tmp_path / "records.csv", HEADER, lee, row)
    with pytest.raises(DataFileError) as caught:
        build_from_csv(tmp_path / "index.sqlite3", records, TODAY)
    assert str(caught.value).startswith(f"{records} line 3")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    # A refused build leaves no index behind.
    assert not (tmp_path / "index.sqlite3").exists()


def test_repeated_arn_and_nic_name_the_first_line(tmp_path: Path) -> None:
    ivf = "ABSCONDER,I000000001"
    for rows, message in [
        ((GARCIA, "12345678,GARCIA,MARIA,,19850314,F,MX,LPR,IR1,,,"),
         "line 3, column arn: A012345678 is also on line 2; list each person once"),
        (("011111111,LOPEZ,ANA,,19850314,F,MX,OOS,B2,," + ivf.replace("I", "i"),
          "011111112,LOPEZ,ANA,,19850314,F,MX,OOS,B2,," + ivf),
         "line 3, column nic: I000000001 is also on line 2;"),
    ]:  # fmt: skip
        with pytest.raises(DataFileError, match=message):
            build_rows(tmp_path, *rows)


def test_values_are_normalized(tmp_path: Path) -> None:
    index = build_rows(
        tmp_path,
        " a012-345-678 , muñoz , josé  maría , ,19850314, female ,mx,lpr, ir1 ,20100501,,",
        "055555555,O\u2019BRIEN,SEAN,,19881111,M,UK,OOS,EWI,,nseers  violator,i000000005",
        '044444444,"de  la cruz",rosa,,19920909,u,es,oos,,,,',
    )
    try:
        munoz = index.by_arn("012345678")
        assert munoz is not None
        assert (munoz.last, munoz.first, munoz.middle, munoz.sex, munoz.pob, munoz.status) == (
            "MUNOZ", "JOSE MARIA", "", "F", "MX", "LPR",
        )  # fmt: skip
        assert (munoz.coa, munoz.status_date) == ("IR1", date(2010, 5, 1))
        obrien = index.by_nic("I000000005")
        assert obrien is not None
        assert (obrien.last, obrien.ivf) == ("O'BRIEN", "NSEERS VIOLATOR")
        assert [r.last for r in index.by_name("DELACRUZ", "R", date(1992, 9, 9), None)] == [
            "DE LA CRUZ"
        ]
    finally:
        index.close()


def test_today_is_injected(tmp_path: Path) -> None:
    row = "012345678,GARCIA,MARIA,,20250101,F,MX,USC,,20250101,,"
    index = build_rows(tmp_path, row, today=date(2025, 1, 1))
    assert len(index) == 1
    index.close()
    with pytest.raises(DataFileError, match="column dob: 20250101 is after today"):
        build_rows(tmp_path, row, today=date(2024, 12, 31))


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_ends_and_byte_order_mark(tmp_path: Path, newline: str) -> None:
    records = write(
        tmp_path / "records.csv", "\ufeff" + HEADER, GARCIA, "", ",,,,,,,,,,,", newline=newline
    )
    assert build_from_csv(tmp_path / "index.sqlite3", records, TODAY) == 1


def test_optional_columns_may_be_left_out(tmp_path: Path) -> None:
    records = write(
        tmp_path / "records.csv",
        "arn,last,first,dob,sex,pob,status",
        "12345678,LEE,ANN,19900101,F,CH,USC",
    )
    assert build_from_csv(tmp_path / "index.sqlite3", records, TODAY) == 1


def test_a_quoted_line_break_is_counted(tmp_path: Path) -> None:
    records = write(
        tmp_path / "records.csv", HEADER, '012345678,"GARCIA\nLOPEZ",MARIA,,19850314,F,MX,LPR,,,,',
        "022222222,LEE,4NN,,19900101,F,CH,USC,,,,",
    )  # fmt: skip
    # The row of the quoted line break takes lines 2 and 3, so LEE is on line 4.
    with pytest.raises(DataFileError, match=r"line 4, column first: '4NN' is not a name"):
        build_from_csv(tmp_path / "index.sqlite3", records, TODAY)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER + ",arn", "line 1, column arn: the header names it twice; keep one"),
        (HEADER.replace("last,", ",", 1), "line 1: column 2 of the header has no name;"),
        ("arn,first,dob,sex,status", "line 1: the header lacks last, pob; add the missing"),
    ],
)
def test_header_refusals(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(DataFileError, match=message):
        build_rows_with_header(tmp_path, header)


def build_rows_with_header(tmp_path: Path, header: str) -> int:
    """Build an index of GARCIA under ``header``."""
    records = write(tmp_path / "records.csv", header, GARCIA)
    return build_from_csv(tmp_path / "index.sqlite3", records, TODAY)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"cannot be read \(.*\); check that the file"):
        build_from_csv(tmp_path / "index.sqlite3", tmp_path, TODAY)


def test_ensure_index_reports_what_it_did(tmp_path: Path) -> None:
    records = write(tmp_path / "records.csv", HEADER, GARCIA)
    index = tmp_path / "data" / "index.sqlite3"
    assert ensure_index(index, records, 10, TODAY) == "built"
    assert ensure_index(index, records, 10, TODAY) == "reused"
    later = index.stat().st_mtime + 10
    os.utime(records, (later, later))
    assert ensure_index(index, records, 10, TODAY) == "rebuilt"
    # A records file that became bad keeps the index it had.
    write(records, HEADER, GARCIA.replace("GARCIA", "GARC1A"))
    os.utime(records, (later + 10, later + 10))
    with pytest.raises(DataFileError):
        ensure_index(index, records, 10, TODAY)
    opened = ImmigrationIndex.open(index)
    assert opened.by_arn("012345678") is not None
    opened.close()


CELL_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(column=st.sampled_from(CSV_COLUMNS), value=CELL_TEXT)
def test_any_text_in_a_cell_is_taken_or_refused(column: str, value: str) -> None:
    good = dict(zip(CSV_COLUMNS, next(csv.reader([GARCIA])), strict=True))
    good[column] = value
    with tempfile.TemporaryDirectory() as folder:
        records = Path(folder) / "records.csv"
        with records.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            writer.writerow(good.values())
        try:
            assert build_from_csv(Path(folder) / "index.sqlite3", records, TODAY) == 1
        except DataFileError as exc:
            assert str(exc).startswith(f"{records} line ")
            assert "\n" not in str(exc) and "\r" not in str(exc)


@given(column=st.integers(0, len(CSV_COLUMNS) - 1), value=st.binary(max_size=40))
def test_any_bytes_in_a_cell_are_taken_or_refused(column: int, value: bytes) -> None:
    cells = [cell.encode() for cell in next(csv.reader([GARCIA]))]
    cells[column] = value
    with tempfile.TemporaryDirectory() as folder:
        records = Path(folder) / "records.csv"
        records.write_bytes(HEADER.encode() + b"\n" + b",".join(cells) + b"\n")
        try:
            build_from_csv(Path(folder) / "index.sqlite3", records, TODAY)
        except DataFileError as exc:
            assert str(exc).startswith(f"{records}")


# --------------------------------------------------------------------------------------------
# Line registry (--lines)

LINES_HEADER = "line,key,ice_office_ori,control_ori"


def test_lines_are_read_with_defaults_and_any_case(tmp_path: Path) -> None:
    lines = write(
        tmp_path / "lines.csv", LINES_HEADER.upper(), " tx , secret ,,", "CA,k2,txice0000,ca0000001"
    )
    registry = load_lines(lines)
    assert registry.get("TX") == Line("TX", "secret", "TXICE0000", "TX0000000")
    assert registry.get("CA") == Line("CA", "k2", "TXICE0000", "CA0000001")
    assert registry.codes == ("TX", "CA")
    # The notice ORI columns may be left out.
    registry = load_lines(write(tmp_path / "lines.csv", "key,line", "k,NY"))
    assert registry.get("NY") == Line("NY", "k", "NYICE0000", "NY0000000")


def test_the_format_column_says_which_lines_get_xml(tmp_path: Path) -> None:
    lines = write(tmp_path / "lines.csv", "line,key,format", "CA,k,XML ", "TX,k,", "NY,k,text")
    registry = load_lines(lines)
    assert [line.format for line in registry] == ["xml", "text", "text"]
    # Left out, every line is a text line.
    assert load_lines(write(tmp_path / "lines.csv", "line,key", "CA,k")).get("CA") == Line(
        "CA", "k", "CAICE0000", "CA0000000", "text"
    )


def test_a_format_not_known_is_refused_naming_the_fix(tmp_path: Path) -> None:
    lines = write(tmp_path / "lines.csv", "line,key,format", "CA,k,json")
    with pytest.raises(DataFileError) as caught:
        load_lines(lines)
    assert str(caught.value) == (
        f"{lines} line 2, column format: 'json' is not a line format; write text or xml"
        " (the form of the line's outputs), or leave it empty for text"
    )


def test_shipped_registry_loads_every_line() -> None:
    registry = load_lines(None)
    assert registry.codes == LINE_CODES
    # Every line's key is the hashed development key DEV-<LINE>, and its notice ORIs the defaults.
    for line in registry:
        assert not is_plain_key(line.key_hash)
        assert verify_key(dev_key(line.code), line.key_hash)
        assert (line.ice_office_ori, line.control_ori) == (f"{line.code}ICE0000",
                                                           f"{line.code}0000000")
    ca = registry.get("CA")
    assert ca is not None and not verify_key("DEV-TX", ca.key_hash)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("T1,k,,", "column line: 'T1' is not a line code; write the two-letter code"),
        (",k,,", "column line: '' is not a line code"),
        ("TX,,,", "column key: empty; paste the hash `iaqgw keys hash` prints"),
        ("TX,pbkdf2_sha256$1000$zz$00,,", "column key: not a well-formed pbkdf2_sha256 hash;"),
        ("TX,k,TXICE,", "column ice_office_ori: 'TXICE' is not an ORI; write the ICE field"),
        ("TX,k,VTINS07S0,", "column ice_office_ori: VTINS07S0 is an ORI of the gateway's own"),
        ("TX,k,,CA0000000", "column control_ori: CA0000000 is not on line TX; give an ORI"),
        ("NL,k,,", "column control_ori: NL0000000 is an ORI of the gateway's own services"),
        ("CA,k,,", "column line: CA is also on line 2; list each line once"),
        ("TX,k,AZICE0000,", "column ice_office_ori: AZICE0000 is on line AZ, which this file"
                            " does not list; add line AZ, or leave the cell empty for TXICE0000"),
        ("TX,k,,,x", "line 3: 5 values for 4 columns"),
    ],
)  # fmt: skip
def test_line_refusals(tmp_path: Path, row: str, message: str) -> None:
    lines = write(tmp_path / "lines.csv", LINES_HEADER, "CA,k,,", row)
    with pytest.raises(DataFileError) as caught:
        load_lines(lines)
    assert str(caught.value).startswith(f"{lines} line 3")
    assert message in str(caught.value)


def test_a_plain_key_is_never_repeated_in_a_refusal(tmp_path: Path) -> None:
    lines = write(tmp_path / "lines.csv", LINES_HEADER, "CA,pbkdf2_sha256$S3CRET,,")
    with pytest.raises(DataFileError) as caught:
        load_lines(lines)
    assert "S3CRET" not in str(caught.value)


def test_unknown_line_column_is_named(tmp_path: Path) -> None:
    lines = write(tmp_path / "lines.csv", LINES_HEADER + ",formt", "CA,k,,,tcp")
    with pytest.raises(DataFileError, match=r"line 1, column formt: unknown column; rename or"):
        load_lines(lines)


def test_a_line_registry_without_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="line 2: no rows after the header; add a row"):
        load_lines(write(tmp_path / "lines.csv", LINES_HEADER))


# --------------------------------------------------------------------------------------------
# ORI registry (--oris)


def test_oris_are_read_with_the_line_optional(tmp_path: Path) -> None:
    oris = write(
        tmp_path / "oris.csv", "ori,agency,line", "tx2270100, austin  pd ,", "CA0194200,LASD,ca"
    )
    registry = load_oris(oris)
    assert list(registry) == [Ori("TX2270100", "TX", "austin pd"), Ori("CA0194200", "CA", "LASD")]


def test_ori_registry_gives_lines_and_criminal_history_authorization(tmp_path: Path) -> None:
    oris = write(
        tmp_path / "oris.csv",
        "ori,line,agency,chri",
        "WVFBINICS,FB,FBI NICS SECTION,",
        "DCFBI0100,FB,FBI FIELD OFFICE,Y",
        "CA0194200,,LASD,n",
    )
    assert list(load_oris(oris)) == [
        Ori("WVFBINICS", "FB", "FBI NICS SECTION", True),
        Ori("DCFBI0100", "FB", "FBI FIELD OFFICE", True),
        Ori("CA0194200", "CA", "LASD", False),
    ]
    bad = write(tmp_path / "bad.csv", "ori,line,agency,chri", "CA0194200,CA,LASD,X")
    with pytest.raises(DataFileError, match="line 2, column chri: 'X' is not Y or N; write Y"):
        load_oris(bad)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("TX227010,TX,PD", "column ori: 'TX227010' is not an ORI; write the agency's ORI as 9"),
        (",TX,PD", "column ori: empty; give the agency's 9-character ORI"),
        ("VTINS07S0,VT,PD", "column ori: VTINS07S0 is an ORI of the gateway's own services"),
        ("CA0194200,CA,PD", "column ori: CA0194200 is also on line 2; list each ORI once"),
        ("TX2270100,C1,PD", "column line: 'C1' is not a line code; write the two-letter code"),
        ("TX2270100,TX, ", "column agency: empty; give the agency's name"),
    ],
)
def test_ori_refusals(tmp_path: Path, row: str, message: str) -> None:
    oris = write(tmp_path / "oris.csv", "ori,line,agency", "CA0194200,CA,LASD", row)
    with pytest.raises(DataFileError) as caught:
        load_oris(oris)
    assert str(caught.value).startswith(f"{oris} line 3")
    assert message in str(caught.value)


def test_synthetic_registry_survives_a_csv_round_trip(tmp_path: Path) -> None:
    oris = synthetic_oris(LINE_CODES, total=2_000, seed=7)
    path = tmp_path / "oris.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ori", "line", "agency"])
        writer.writerows((entry.ori, entry.line, entry.agency) for entry in oris)
    assert list(load_oris(path)) == oris


def test_synthetic_oris_cover_the_registry_lines_only() -> None:
    everyone = load_oris(None)
    two = load_oris(None, ("CA", "TX"))
    assert {entry.line for entry in two} == {"CA", "TX"}
    # Each line keeps the ORIs it has in the full registry, so simulators and gateways agree.
    assert list(two) == [entry for entry in everyone if entry.line in ("CA", "TX")]


# --------------------------------------------------------------------------------------------
# A small line registry on a running gateway


async def test_a_small_line_registry_serves(
    tmp_path: Path, start_gateway: Callable[..., Awaitable[Gateway]]
) -> None:
    lines = write(tmp_path / "lines.csv", "line,key", "CA,KEY-CA", "TX,KEY-TX")
    gateway = await start_gateway(lines=lines)
    # The default NICS ORI (WVFBINICS) has no line here: PUR/F copies are off.
    assert lesc_of(gateway).casebook.nics_ori is None
    assert {entry.line for entry in gateway.oris} == {"CA", "TX"}
    client = await LineClient.connect("127.0.0.1", gateway.port, "CA", "KEY-CA")
    try:
        await client.send(am("CA0000000", "NY0000000"))
        out = await client.recv()
        assert out.message.mke == "ER"
        code, detail, _ = parse_er_body(out.message.body)
        assert (code, detail) == (ErrorCode.DESTINATION, "DESTINATION NY0000000 UNKNOWN")
        await client.send(iaq("CA0000000", pur="F"))
        answers = [await client.recv() for _ in range(2)]
        assert [out.message.mke for out in answers] == ["AM", "IAR"]
    finally:
        await client.close()


async def test_a_nics_ori_on_a_registry_line_gets_copies(
    tmp_path: Path, start_gateway: Callable[..., Awaitable[Gateway]]
) -> None:
    lines = write(tmp_path / "lines.csv", "line,key", "CA,KEY-CA", "TX,KEY-TX")
    gateway = await start_gateway(lines=lines, nics_ori="TX0000000")
    ca = await LineClient.connect("127.0.0.1", gateway.port, "CA", "KEY-CA")
    tx = await LineClient.connect("127.0.0.1", gateway.port, "TX", "KEY-TX")
    try:
        await ca.send(iaq("CA0000000", pur="F"))
        ack, iar = [await ca.recv() for _ in range(2)]
        assert (ack.message.mke, iar.message.mke) == ("AM", "IAR")
        copy = await tx.recv()
        assert (copy.message.dest, copy.message.body) == ("TX0000000", iar.message.body)
    finally:
        await ca.close()
        await tx.close()
