"""The indices the LESC searches for an IAQ, one step each (issue 12, item 1): each step's hit
and miss on a real index file, the identifiers they derive, and the IAR's ``IDX/`` listing."""

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lesc_support import (
    Lesc,
    fields_of,
    lesc_fixture,  # noqa: F401
    qw,
)
from messages import iaq
from test_lesc_stats import cli, stats

from formats.message import parse_input
from responders.base import Exchange
from responders.lesc.desk import Case, LescState
from responders.lesc.iaq_steps import read_iaq
from responders.lesc.index import ImmigrationIndex, Record, build_from_records
from responders.lesc.indices import SEARCHES, IndexFinding, central, ident, iii, nseers, sevis
from responders.lesc.indices.finding import format_listing, parse_listing
from responders.lesc.indices.identifiers import (
    arn_of_fbi,
    arn_of_sid,
    fbi_number,
    fin,
    sevis_id,
    sid_number,
)
from routing.lines import LineRegistry
from routing.resolve import Destination

CA = "CA0000000"
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
ARN = st.integers(0, 10**9 - 1).map(lambda n: f"{n:09d}")


class NoCases:
    """A desk with no cases and no detainers: the index steps never ask it anything."""

    nics_ori = None

    def find_case(self, ori: str, nic: str, oca: str) -> Case | None:
        """No case."""
        return None

    def detainer_in_place(self, ori: str, arn: str) -> bool:
        """No detainer."""
        return False


def person(arn: str, last: str = "DOE", first: str = "JOHN", **changes: Any) -> Record:
    """A record of the index: a man born in Mexico in 1980, out of status after a B2 visa."""
    values: dict[str, Any] = {
        "arn": arn, "last": last, "first": first, "middle": "", "dob": date(1980, 1, 1),
        "sex": "M", "pob": "MX", "status": "OOS", "coa": "B2", "status_date": date(2010, 1, 1),
        "ivf": None, "nic": None,
    }  # fmt: skip
    values.update(changes)
    return Record(**values)


def first_arn(make: Callable[[str], Record], wanted: Callable[[Record], bool]) -> Record:
    """The first record ``make`` builds (A-numbers from 100000001 up) that ``wanted`` holds."""
    for number in range(100_000_001, 100_010_000):
        record = make(f"{number:09d}")
        if wanted(record):
            return record
    raise AssertionError("no A-number in range")


@pytest.fixture
def open_index(tmp_path: Path) -> Iterator[Callable[[Sequence[Record]], ImmigrationIndex]]:
    """Build an index file of these records and open it."""
    opened: list[ImmigrationIndex] = []

    def build(records: Sequence[Record]) -> ImmigrationIndex:
        path = tmp_path / f"index-{len(opened)}.sqlite3"
        build_from_records(path, records)
        opened.append(ImmigrationIndex.open(path))
        return opened[-1]

    yield build
    for index in opened:
        index.close()


def searched(
    index: ImmigrationIndex,
    steps: Sequence[Callable[[Exchange], None]] = SEARCHES,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
    **fields: str,
) -> Exchange:
    """An IAQ for DOE, JOHN 19800101 M (fields override) run through validation and ``steps``,
    the indices holding what ``tables`` list (index files) or their synthetic data."""
    text = iaq(CA, **{"nam": "DOE, JOHN", "dob": "19800101", "sex": "M", **fields})
    exchange = Exchange(
        message=parse_input(text),
        line="CA",
        destination=Destination("service", "lesc", "AX"),
        received_at=NOW,
        control_number="0000000001",
        lines=LineRegistry([]),
        state=LescState(index, NoCases(), LineRegistry([]), tables=tables or {}),
    )
    read_iaq(exchange)
    for step in steps:
        step(exchange)
    return exchange


def finding(exchange: Exchange, name: str) -> IndexFinding:
    """The finding of one index."""
    [found] = [f for f in exchange.data["indices"] if f.index == name]
    assert isinstance(found, IndexFinding)
    return found


# --- Every index, in order -------------------------------------------------------------


def test_every_index_is_searched_once_in_order(open_index: Any) -> None:
    exchange = searched(open_index([person("100000001")]))
    names = [f.index for f in exchange.data["indices"]]
    assert names == ["CIS", "NCIC", "III", "SEVIS", "IDENT", "NSEERS"]
    # One name search however many indices search by name.
    assert exchange.data["subjects"].by_name is exchange.data["records"]


def test_a_distribution_may_leave_an_index_out(open_index: Any) -> None:
    steps = [step for step in SEARCHES if step is not sevis.search]
    exchange = searched(open_index([person("100000001")]), steps)
    assert [f.index for f in exchange.data["indices"]] == ["CIS", "NCIC", "III", "IDENT", "NSEERS"]


def test_nobody_found_anywhere(open_index: Any) -> None:
    exchange = searched(open_index([person("100000001", last="ROE")]))
    assert exchange.data["status"] == "NRF"
    for found in exchange.data["indices"]:
        assert (found.hit, found.summary, found.repositories) == (False, "", 0), found


# --- The central index ------------------------------------------------------------------


def test_central_index_by_arn_then_name(open_index: Any) -> None:
    index = open_index([person("100000001"), person("100000002", last="DOH")])
    by_arn = finding(searched(index, [central.search], arn="A100000001"), "CIS")
    assert (by_arn.hit, by_arn.detail, by_arn.summary) == (
        True, (("STS", "OOS"), ("ARN", "A100000001")), ""
    )  # fmt: skip
    # DOE and DOH share a Soundex code: two possible records.
    several = searched(index, [central.search])
    assert several.data["status"] == "MLT"
    assert finding(several, "CIS").summary == "CIS: 2 POSSIBLE RECORDS."
    none = finding(searched(index, [central.search], nam="ROE, JOHN"), "CIS")
    assert (none.hit, none.detail, none.summary, none.repositories) == (
        False, (("STS", "NRF"),), "", 0
    )  # fmt: skip


# --- NCIC -------------------------------------------------------------------------------


def test_ncic_finds_ivf_records_by_name_and_by_fbi_number(open_index: Any) -> None:
    felon = person("100000001", status="REM", ivf="DEPORTED FELON", nic="I100000001")
    other = person("100000002", last="SMITH", ivf="ABSCONDER", nic="I100000002")
    index = open_index([felon, other, person("100000003", last="BROWN")])
    by_name = finding(searched(index), "NCIC")
    assert by_name.hit and by_name.detail == (("NIC", "I100000001"), ("IVF", "DEPORTED FELON"))
    assert by_name.summary == "NCIC: IMMIGRATION VIOLATOR FILE: DEPORTED FELON NIC I100000001."
    # The FBI number finds SMITH's record whatever the name asked; the name finds DOE's too.
    both = finding(searched(index, fbi=fbi_number("100000002")), "NCIC")
    assert [value for tag, value in both.detail if tag == "NIC"] == ["I100000002", "I100000001"]
    assert not finding(searched(index, nam="BROWN, JOHN"), "NCIC").hit


# --- III --------------------------------------------------------------------------------


def test_iii_finds_a_criminal_history_and_its_state_repositories(open_index: Any) -> None:
    felon = person("100000001", status="REM", ivf="DEPORTED FELON", nic="I100000001")
    states = iii.repositories(felon)
    assert 1 <= len(states) <= 3 and len(set(states)) == len(states)
    index = open_index([felon])
    found = finding(searched(index), "III")
    fbi = fbi_number(felon.arn)
    assert found.hit and found.repositories == len(states)
    assert found.detail == (
        ("FBI", fbi), ("SID", sid_number(felon.arn, states[0])), ("STATES", " ".join(states))
    )  # fmt: skip
    assert found.summary == f"III: CRIMINAL HISTORY: FBI {fbi}, RECORDS IN {' '.join(states)}."
    # By FBI number or SID under any name.
    for fields in ({"fbi": fbi}, {"sid": sid_number(felon.arn, states[-1])}):
        again = finding(searched(index, nam="ROE, JANE", sex="F", **fields), "III")
        assert again.hit and again.repositories == len(states)
    # The SID of a state that holds a record is the one the answer gives.
    home = finding(searched(index, sid=sid_number(felon.arn, states[-1])), "III")
    assert dict(home.detail)["SID"] == sid_number(felon.arn, states[-1])


def test_iii_holds_removed_and_out_of_status_people_only(open_index: Any) -> None:
    with_history = first_arn(
        lambda arn: person(arn, status="REM"), lambda r: bool(iii.repositories(r))
    )
    resident = with_history._replace(status="LPR", coa="IR1")
    assert iii.repositories(resident) == ()
    found = finding(searched(open_index([resident])), "III")
    assert (found.hit, found.repositories, found.summary) == (False, 0, "")
    assert finding(searched(open_index([with_history])), "III").hit


def test_iii_shares_and_counts_are_those_documented() -> None:
    records = [person(f"{n:09d}", status="REM") for n in range(200_000_000, 200_004_000)]
    counts = [len(iii.repositories(r)) for r in records]
    share = sum(1 for n in counts if n) / len(records)
    assert share == pytest.approx(iii.HISTORY_SHARE["REM"], abs=0.03)
    held = [n for n in counts if n]
    assert [held.count(n) / len(held) for n in (1, 2, 3)] == pytest.approx(
        [0.6, 0.3, 0.1], abs=0.04
    )


# --- SEVIS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "coa", "record"),
    [("NIV", "F1", "ACTIVE"), ("NIV", "J1", "ACTIVE"), ("OOS", "M1", "TERMINATED"),
     ("NIV", "H1B", None), ("LPR", "F1", None)],
)  # fmt: skip
def test_sevis_holds_students_and_exchange_visitors(
    open_index: Any, status: str, coa: str, record: str | None
) -> None:
    student = person("100000001", status=status, coa=coa)
    found = finding(searched(open_index([student])), "SEVIS")
    assert found.hit is (record is not None)
    if record is not None:
        number = sevis_id(student.arn)
        assert found.detail == (("SEVIS", number), ("CLASS", coa), ("RECORD", record))
        assert found.summary == f"SEVIS: {coa} {sevis.PROGRAMS[coa]} {number}, {record}."


def test_sevis_is_searched_by_name_not_by_arn(open_index: Any) -> None:
    student = person("100000001", status="NIV", coa="F1")
    # The A-number finds the student in the central index, the name nobody in SEVIS.
    exchange = searched(open_index([student]), arn="100000001", nam="ROE, JOHN")
    assert finding(exchange, "CIS").hit and not finding(exchange, "SEVIS").hit


# --- IDENT ------------------------------------------------------------------------------


def test_ident_finds_biometric_encounters(open_index: Any) -> None:
    removed = person("100000001", status="REM")
    count = ident.encounters(removed)
    assert 2 <= count <= 4
    index = open_index([removed])
    found = finding(searched(index), "IDENT")
    assert found.detail == (("FIN", fin(removed.arn)), ("ENCOUNTERS", str(count)))
    assert found.summary == f"IDENT: BIOMETRIC RECORD: FIN {fin(removed.arn)}, {count} ENCOUNTERS."
    by_fbi = searched(index, nam="ROE, JANE", sex="F", fbi=fbi_number(removed.arn))
    assert finding(by_fbi, "IDENT").hit


@pytest.mark.parametrize("changes", [{"status": "USC", "coa": ""}, {"status": "LPR", "pob": "US"}])
def test_ident_holds_nobody_born_a_citizen_or_in_the_us(
    open_index: Any, changes: dict[str, str]
) -> None:
    record = person("100000001", **changes)
    assert ident.encounters(record) == 0
    assert not finding(searched(open_index([record])), "IDENT").hit


# --- NSEERS -----------------------------------------------------------------------------


def test_nseers_finds_a_violator_by_arn_and_by_name(open_index: Any) -> None:
    violator = person("100000001", pob="SY", ivf="NSEERS VIOLATOR", nic="I100000001")
    held = nseers.registration(violator)
    assert held is not None
    day, complied = held
    assert date(2002, 11, 15) <= day <= date(2003, 4, 25) and not complied
    index = open_index([violator])
    for fields in ({}, {"arn": "100000001", "nam": "ROE, JOHN"}):
        found = finding(searched(index, **fields), "NSEERS")
        assert found.detail == (
            ("FIN", fin(violator.arn)), ("REGISTERED", f"{day:%Y%m%d}"),
            ("COMPLIANCE", "FAILED TO COMPLY"),
        )  # fmt: skip
        assert found.summary == (
            f"NSEERS: SPECIAL REGISTRATION: REGISTERED {day:%Y%m%d}, FIN {fin(violator.arn)},"
            " FAILED TO COMPLY."
        )


def test_nseers_registrants_are_men_of_the_listed_countries(open_index: Any) -> None:
    registrant = first_arn(
        lambda arn: person(arn, pob="PK"), lambda r: nseers.registration(r) is not None
    )
    assert finding(searched(open_index([registrant])), "NSEERS").summary.endswith("COMPLIED.")
    for changes in ({"sex": "F"}, {"pob": "MX"}, {"dob": date(1990, 1, 1)}, {"status": "USC"}):
        assert nseers.registration(registrant._replace(**changes)) is None, changes


# --- Identifiers the indices derive -----------------------------------------------------


@given(ARN)
def test_an_fbi_number_finds_its_arn_again(arn: str) -> None:
    fbi = fbi_number(arn)
    # The IAQ's FBI/ rule: up to 9 letters or digits.
    assert len(fbi) == 9 and fbi.isalnum() and fbi.isupper()
    assert arn_of_fbi(fbi) == arn


@given(ARN, st.sampled_from(["CA", "TX", "NY"]))
def test_a_sid_finds_its_arn_and_state_again(arn: str, state: str) -> None:
    sid = sid_number(arn, state)
    assert len(sid) == 10 and sid.isalnum() and sid.isupper()  # the IAQ's SID/ rule
    assert arn_of_sid(sid) == (arn, state)


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. ", max_size=12))
def test_any_text_decodes_to_an_arn_or_to_nothing(text: str) -> None:
    for decoded in (arn_of_fbi(text), (arn_of_sid(text) or ("000000000", ""))[0]):
        assert decoded is None or (len(decoded) == 9 and decoded.isdigit())


def test_few_numbers_typed_at_random_decode() -> None:
    tried = [f"{n:06d}AB{n % 10}" for n in range(0, 600_000, 97)]
    assert sum(arn_of_fbi(fbi) is not None for fbi in tried) / len(tried) < 0.25


def test_identifiers_differ_between_people() -> None:
    arns = [f"{n:09d}" for n in range(100_000_000, 100_002_000)]
    for derive in (fbi_number, sevis_id, fin, lambda arn: sid_number(arn, "CA")):
        assert len({derive(arn) for arn in arns}) == len(arns)


# --- The IDX/ listing -------------------------------------------------------------------

INDEX_NAME = st.from_regex(r"[A-Z][A-Z0-9]{0,11}", fullmatch=True)


@given(st.lists(st.tuples(INDEX_NAME, st.booleans()), min_size=1, unique_by=lambda p: p[0]))
def test_listing_reads_back(pairs: list[tuple[str, bool]]) -> None:
    assert parse_listing(format_listing(IndexFinding(*pair) for pair in pairs)) == pairs


@given(st.text(max_size=40))
def test_any_listing_text_reads_or_is_refused(text: str) -> None:
    try:
        pairs = parse_listing(text)
    except ValueError:
        return
    assert format_listing(IndexFinding(*pair) for pair in pairs) == text


@pytest.mark.parametrize(
    "text", ["", "CIS", "CIS HIT,NCIC NRF", "CIS MAYBE", "cis HIT", "CIS HIT, CIS NRF"]
)
def test_listing_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listing(text)


def test_listing_refuses_a_name_it_could_not_read_back() -> None:
    with pytest.raises(ValueError, match="not an index name"):
        format_listing([IndexFinding("US-VISIT", True)])


# --- Through the gateway: the IAR of both runs, the figures -----------------------------

LOPEZ_IAR = """\
NAM/LOPEZ, CARLOS.
DOB/19750505.
SEX/M.
LCN/{lcn}.
STS/REM.
ARN/A033333333.
POB/MX.
COA/EWI.
SDT/20120202.
IVF/DEPORTED FELON.
NIC/I123456789.
IDX/CIS HIT, NCIC HIT, III HIT, SEVIS NRF, IDENT HIT, NSEERS NRF.
SUBJECT WAS PREVIOUSLY REMOVED FROM THE UNITED STATES.
NCIC: IMMIGRATION VIOLATOR FILE: DEPORTED FELON NIC I123456789.
III: CRIMINAL HISTORY: FBI 268801BS9, RECORDS IN NV WA.
IDENT: BIOMETRIC RECORD: FIN 4098816136, 3 ENCOUNTERS."""


async def test_the_iar_lists_every_index_and_what_it_found(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    lopez = {"nam": "LOPEZ, CARLOS", "dob": "19750505", "sex": "M"}
    await client.send(iaq(CA, **lopez))
    _, iar = await client.recv_many(2)
    assert iar.message.body == LOPEZ_IAR.format(lcn=fields_of(iar)["LCN"])
    # The Brady run searches the same indices; its firearms lines follow theirs.
    await client.send(iaq(CA, pur="F", **lopez))
    _, brady = await client.recv_many(2)
    lines = brady.message.body.splitlines()
    assert lines[:-2] == LOPEZ_IAR.format(lcn=fields_of(brady)["LCN"]).splitlines()
    assert lines[-2:] == ["FIREARMS: MANUAL CHECK IN PROGRESS.", "AN ENHANCED RESPONSE FOLLOWS."]


async def test_stats_count_searches_and_hits_per_index(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    tx = await lesc.connect(gateway, "TX")
    await client.send(iaq(CA, nam="LOPEZ, CARLOS", dob="19750505", sex="M"))
    await client.send(iaq(CA, nam="OKAFOR, CHINEDU", dob="19881111", sex="M"))
    await client.recv_many(4)
    await tx.send(iaq("TX0000000", nam="HADDAD, OMAR", dob="19790909", sex="M", pur="F"))
    await tx.send(iaq("TX0000000", nam="NOBODY, AT ALL", dob="19790909", sex="M"))
    await tx.recv_many(4)
    # A QW is no IAQ: it searches no index of these.
    await tx.send(qw("TX0000000", "LOPEZ, CARLOS", "19750505"))
    await tx.recv()
    [year] = (await stats(lesc))["fiscal_years"]
    expected_ca = {"CIS": 2, "NCIC": 1, "III": 1, "SEVIS": 1, "IDENT": 2, "NSEERS": 0}
    expected_tx = {"CIS": 1, "NCIC": 1, "III": 0, "SEVIS": 0, "IDENT": 1, "NSEERS": 1}
    for state, hits, searched_ in (("CA", expected_ca, 2), ("TX", expected_tx, 2)):
        indices = year["states"][state]["indices"]
        assert list(indices) == ["CIS", "NCIC", "III", "SEVIS", "IDENT", "NSEERS"]
        assert {name: counts["hits"] for name, counts in indices.items()} == hits
        assert {counts["searched"] for counts in indices.values()} == {searched_}
    total = year["total"]["indices"]
    assert total["IDENT"] == {"searched": 4, "hits": 3}
    table = await cli("stats", "--data-dir", str(lesc.data_dir))
    assert table.exit_code == 0, table.output
    rows = [line for line in table.stdout.splitlines() if "TOTAL" in line]
    assert [cell.strip() for cell in rows[-1].split("│")[1:-1]] == [
        "TOTAL", "3/4", "2/4", "1/4", "1/4", "3/4", "1/4"
    ]  # fmt: skip


async def test_a_journal_from_before_the_indices_still_counts(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA))
    await client.recv_many(2)
    await lesc.close()
    lesc.clients.clear()
    lesc.gateways.clear()
    # The journal as a gateway before the listing left it.
    with sqlite3.connect(lesc.data_dir / "journal.sqlite3") as db:
        db.execute("ALTER TABLE lesc_queries DROP COLUMN indices")
    [year] = (await stats(lesc))["fiscal_years"]
    assert year["total"]["queries"]["IAQ_C"] == 1 and year["total"]["indices"] == {}
    # The gateway adds the column at start and counts the IAQs that come next.
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA))
    await client.recv_many(2)
    [year] = (await stats(lesc))["fiscal_years"]
    assert year["total"]["queries"]["IAQ_C"] == 2
    assert year["total"]["indices"]["CIS"] == {"searched": 1, "hits": 1}


async def test_a_listing_edited_by_hand_counts_in_no_index(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA))
    await client.send(iaq(CA))
    await client.recv_many(4)
    with sqlite3.connect(lesc.data_dir / "journal.sqlite3") as db:
        db.execute(
            "UPDATE lesc_queries SET indices = 'CIS MAYBE'"
            " WHERE input_id = (SELECT MIN(input_id) FROM lesc_queries)"
        )
    [year] = (await stats(lesc))["fiscal_years"]
    assert year["total"]["queries"]["IAQ_C"] == 2
    assert year["total"]["indices"]["CIS"] == {"searched": 1, "hits": 1}
