"""The optional CSV of each index (``IAQGW_INDEX_DATA``, issue 12 item 1): read, used in place
of the synthetic data, and refused with the line, the column, the rule and the fix."""

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lesc_support import (
    Lesc,
    fields_of,
    lesc_fixture,  # noqa: F401
)
from messages import iaq
from paths import RECORDS
from test_cli_serve import assert_one_line, serve
from test_lesc_indices import finding, searched

from formats.datafile import DataFileError, SettingError
from responders.lesc.index import ImmigrationIndex
from responders.lesc.indices.files import load_tables, parse_states
from responders.lesc.records import build_from_csv

CA = "CA0000000"
# In the test records: GARCIA (LPR, in no index beyond the central one) and LOPEZ (a
# deported felon with a synthetic III history in NV and WA).
GARCIA = "012345678"
LOPEZ = "033333333"


@pytest.fixture
def index(tmp_path: Path) -> Any:
    """The index of the test records."""
    path = tmp_path / "index.sqlite3"
    build_from_csv(path, RECORDS, date(2026, 1, 1))
    opened = ImmigrationIndex.open(path)
    yield opened
    opened.close()


def write(directory: Path, files: dict[str, str]) -> Path:
    """Write index files into ``directory``."""
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


EVERY_FILE = {
    "iii.csv": f"arn,states\nA{GARCIA},ca tx\n",
    "sevis.csv": f"arn,coa,record\n{GARCIA},J1,TERMINATED\n",
    "ident.csv": f"arn,encounters\n{GARCIA},7\n",
    "nseers.csv": f"arn,registered,complied\n{GARCIA},20021216,Y\n",
}


def test_every_file_is_read_into_its_table(tmp_path: Path, index: ImmigrationIndex) -> None:
    tables = load_tables(write(tmp_path / "idx", EVERY_FILE), index)
    assert tables == {
        "III": {GARCIA: ("CA", "TX")},
        "SEVIS": {GARCIA: ("J1", "TERMINATED")},
        "IDENT": {GARCIA: 7},
        "NSEERS": {GARCIA: (date(2002, 12, 16), True)},
    }


def test_a_file_replaces_the_synthetic_data_of_its_index(
    tmp_path: Path, index: ImmigrationIndex
) -> None:
    tables = load_tables(write(tmp_path / "idx", EVERY_FILE), index)
    garcia = searched(index, tables=tables, nam="GARCIA, MARIA", dob="19850314", sex="F")
    assert [f.index for f in garcia.data["indices"] if f.hit] == [
        "CIS", "III", "SEVIS", "IDENT", "NSEERS"
    ]  # fmt: skip
    assert finding(garcia, "III").repositories == 2
    assert dict(finding(garcia, "SEVIS").detail)["RECORD"] == "TERMINATED"
    assert dict(finding(garcia, "IDENT").detail)["ENCOUNTERS"] == "7"
    assert finding(garcia, "NSEERS").summary.endswith("COMPLIED.")
    # LOPEZ has a synthetic III history, but iii.csv does not list him; NCIC has no file.
    lopez = searched(index, tables=tables, nam="LOPEZ, CARLOS", dob="19750505")
    assert not finding(lopez, "III").hit and finding(lopez, "NCIC").hit
    # With the III file alone, the other indices keep their synthetic data.
    only = load_tables(write(tmp_path / "iii", {"iii.csv": EVERY_FILE["iii.csv"]}), index)
    assert list(only) == ["III"]
    assert finding(searched(index, tables=only, nam="LOPEZ, CARLOS", dob="19750505"), "IDENT").hit


@pytest.mark.parametrize(
    ("name", "text", "where", "words"),
    [
        ("iii.csv", "arn,states\n123,CA\n", "line 2, column arn", "is not an A-number"),
        ("iii.csv", "arn,states\n999999999,CA\n", "line 2, column arn",
         "A999999999 is not in the immigration index"),
        ("iii.csv", f"arn,states\n{GARCIA},CA\n{LOPEZ},TX\nA{GARCIA},NY\n", "line 4, column arn",
         "A012345678 is also on line 2"),
        ("iii.csv", f"arn,states\n{GARCIA},CA CA\n", "line 2, column states", "CA is listed twice"),
        ("iii.csv", f"arn,states\n{GARCIA},CAL\n", "line 2, column states",
         "'CAL' is not a 2-letter"),
        ("iii.csv", f"arn,states\n{GARCIA},\n", "line 2, column states", "no state"),
        ("iii.csv", "arn,states\n", "line 2", "remove iii.csv"),
        ("sevis.csv", f"arn,coa,record\n{GARCIA},H1B,ACTIVE\n", "line 2, column coa",
         "'H1B' is not a SEVIS class"),
        ("sevis.csv", f"arn,coa,record\n{GARCIA},F1,GONE\n", "line 2, column record",
         "write ACTIVE or TERMINATED"),
        ("ident.csv", f"arn,encounters\n{GARCIA},0\n", "line 2, column encounters", "1"),
        ("ident.csv", f"arn,encounters\n{GARCIA},many\n", "line 2, column encounters", "integer"),
        ("nseers.csv", f"arn,registered,complied\n{GARCIA},20010101,Y\n",
         "line 2, column registered", "outside NSEERS"),
        ("nseers.csv", f"arn,registered,complied\n{GARCIA},20021216,MAYBE\n",
         "line 2, column complied", "'MAYBE' is not Y or N"),
        ("nseers.csv", f"arn,registered\n{GARCIA},20021216\n", "line 1", "lacks complied"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_used_is_refused(
    tmp_path: Path, index: ImmigrationIndex, name: str, text: str, where: str, words: str
) -> None:
    directory = write(tmp_path / "idx", {name: text})
    with pytest.raises(DataFileError) as refused:
        load_tables(directory, index)
    message = str(refused.value)
    assert message.startswith(f"{directory / name} {where}:"), message
    assert words in message and "\n" not in message


def test_a_directory_that_is_none_or_holds_no_file_is_refused(
    tmp_path: Path, index: ImmigrationIndex
) -> None:
    assert load_tables(None, index) == {}
    with pytest.raises(SettingError, match=r"IAQGW_INDEX_DATA: .* is not a directory"):
        load_tables(tmp_path / "missing", index)
    with pytest.raises(SettingError, match=r"holds none of iii\.csv, sevis\.csv"):
        load_tables(write(tmp_path / "empty", {"iii.txt": ""}), index)


STATE = st.from_regex(r"[A-Z]{2}", fullmatch=True)


@given(st.lists(STATE, min_size=1, max_size=6, unique=True), st.sampled_from([" ", ",", ", "]))
def test_states_read_back(states: list[str], separator: str) -> None:
    assert parse_states(separator.join(states).lower()) == tuple(states)


@given(st.text(max_size=30))
def test_any_states_cell_reads_or_is_refused(text: str) -> None:
    try:
        states = parse_states(text)
    except ValueError:
        return
    assert states and all(len(state) == 2 and state.isalpha() for state in states)


async def test_the_gateway_answers_from_the_index_files(lesc: Lesc, tmp_path: Path) -> None:
    directory = write(tmp_path / "idx", {"iii.csv": EVERY_FILE["iii.csv"]})
    gateway = await lesc.start(index_data=directory)
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA))
    _, iar = await client.recv_many(2)
    assert fields_of(iar)["IDX"].startswith("CIS HIT, NCIC NRF, III HIT,")
    assert "RECORDS IN CA TX." in iar.message.body
    [opened] = lesc.events("lesc.opened")
    assert opened["index_files"] == ["III"]


def test_serve_with_an_unusable_index_file_says_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write(tmp_path / "idx", {"ident.csv": "arn,encounters\n012345678,none\n"})
    monkeypatch.setenv("IAQGW_INDEX_DATA", str(directory))
    assert_one_line(serve(tmp_path / "data"), f"{directory / 'ident.csv'} line 2", "encounters")
