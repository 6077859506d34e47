"""Biometric IAQs (issue 12, item 3): the FBI CJIS Division's query after a fingerprint match,
answered to the booking agency and copied to the state identification bureau, counted apart."""

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from lesc_support import (
    Lesc,
    agency,
    fields_of,
    lesc_fixture,  # noqa: F401
    nothing_more,
)
from messages import iaq
from paths import RECORDS
from typer.testing import CliRunner

from formats.datafile import DataFileError
from formats.notices import parse_er_body
from gateway.app import Gateway
from gateway.cli import app
from gateway.datafiles import load_lines, load_oris
from gateway.store import FileStore
from responders.base import table_columns
from responders.lesc.casebook import create_tables
from routing.lines import dev_key, ident_bureau_ori
from routing.oris import FBI_CJIS_ORI
from simulator.client import LineClient, Received
from simulator.simulate import Simulation, SimulationOptions
from simulator.switches import parse_target
from simulator.traffic import agencies_by_line, parse_mix, subjects_from_csv, traffic_data

LOPEZ = {"nam": "LOPEZ, CARLOS", "dob": "19750505", "sex": "M", "cus": "Y"}  # REM, IVF


def biometric(booking: str | None, **fields: str | None) -> str:
    """A biometric IAQ from the FBI CJIS Division for a booking at ``booking``."""
    values: dict[str, str | None] = {"fbi": "123456AB7", "sid": "CA12345678", "bor": booking}
    values.update(fields)
    return iaq(FBI_CJIS_ORI, **values)


def routed(outputs: list[Received]) -> Counter[tuple[str, str]]:
    """(MKE, destination) of each output."""
    return Counter((out.message.mke, out.message.dest) for out in outputs)


def bodies(outputs: list[Received], mke: str) -> set[str]:
    """The distinct bodies of the outputs with this key."""
    return {out.message.body for out in outputs if out.message.mke == mke}


async def test_biometric_iaq_reaches_the_booking_agency_and_the_bureau(lesc: Lesc) -> None:
    gateway = await lesc.start()
    cjis = await lesc.connect(gateway, "WV")
    ca = await lesc.connect(gateway, "CA")
    booking = agency(gateway, "CA")
    await cjis.send(biometric(booking, **LOPEZ))

    ack = await cjis.recv()
    assert (ack.message.mke, ack.message.sender, ack.message.dest) == (
        "AM", "VTINS07S0", FBI_CJIS_ORI
    )
    assert "LESC ACKNOWLEDGES RECEIPT OF IAQ" in ack.message.body
    outputs = await ca.recv_many(5)
    assert routed(outputs) == Counter(
        {
            ("IAR", booking): 1,
            ("IAR", "CASIB0000"): 1,
            ("AM", booking): 1,
            ("AM", "CASIB0000"): 1,
            ("AM", "CAICE0000"): 1,
        }
    )
    # The bureau's copies are the booking agency's answers, word for word.
    (iar,) = bodies(outputs, "IAR")
    assert fields_of(outputs[0])["STS"] == "REM" and "DTN/Y." in iar
    (notice,) = bodies(outputs, "AM")
    assert notice.startswith("IMMIGRATION DETAINER LODGED") and f"ORI/{booking}." in notice
    assert await nothing_more(cjis)
    assert [event["ori"] for event in lesc.events("detainer.lodged")] == [booking]


async def test_bureau_from_the_registry_column(lesc: Lesc, tmp_path: Path) -> None:
    lines = tmp_path / "lines.csv"
    lines.write_text(
        "line,key,ice_office_ori,control_ori,ident_bureau_ori\n"
        "CA,DEV-CA,,,ca0349400\n"
        "WV,DEV-WV,,,\n"
    )
    gateway = await lesc.start(lines=lines)
    cjis = await lesc.connect(gateway, "WV")
    ca = await lesc.connect(gateway, "CA")
    booking = agency(gateway, "CA", 3)
    await cjis.send(biometric(booking, arn="012345678"))
    assert (await cjis.recv()).message.mke == "AM"
    outputs = await ca.recv_many(2)
    assert routed(outputs) == Counter({("IAR", booking): 1, ("IAR", "CA0349400"): 1})
    assert len(bodies(outputs, "IAR")) == 1
    assert await nothing_more(ca)


async def test_enhanced_response_of_a_biometric_iaq_goes_the_same_way(lesc: Lesc) -> None:
    gateway = await lesc.start(technician_delay="fixed", technician_delay_mean=0.0)
    cjis = await lesc.connect(gateway, "WV")
    tx = await lesc.connect(gateway, "TX")
    booking = agency(gateway, "TX")
    await cjis.send(biometric(booking, arn="012345678", rem="ENHANCED RESPONSE PLEASE"))
    assert (await cjis.recv()).message.mke == "AM"
    first = await tx.recv_many(2)
    assert routed(first) == Counter({("IAR", booking): 1, ("IAR", "TXSIB0000"): 1})
    enhanced = await tx.recv_many(2)
    assert routed(enhanced) == Counter({("IAR", booking): 1, ("IAR", "TXSIB0000"): 1})
    assert all(fields_of(out)["ENH"] == "Y" for out in enhanced)
    assert await nothing_more(cjis)


def er(out: Received) -> tuple[str, str]:
    """ER number and detail of an ER from the switch."""
    assert out.message.mke == "ER", out.text
    code, detail, _ = parse_er_body(out.message.body)
    return code, detail


@pytest.mark.parametrize(
    ("sender", "fields", "code", "detail"),
    [
        (FBI_CJIS_ORI, {"fbi": None}, ".14.", "FIELD FBI/ MISSING"),
        (FBI_CJIS_ORI, {"sid": None}, ".14.", "FIELD SID/ MISSING"),
        (FBI_CJIS_ORI, {"bor": None}, ".14.", "FIELD BOR/ MISSING"),
        (FBI_CJIS_ORI, {"pur": "F"}, ".22.", "PUR/ MUST BE C IN A BIOMETRIC IAQ"),
        (FBI_CJIS_ORI, {"bor": "CA12345"}, ".22.", "BOR/ MUST BE A 9-CHARACTER ORI"),
        (FBI_CJIS_ORI, {"bor": "ZZ1234567"}, ".19.", "BOR/ ZZ1234567 IS ON NO LINE"),
        ("WV0000000", {}, ".22.", f"BOR/ ONLY IN A BIOMETRIC IAQ FROM {FBI_CJIS_ORI}"),
    ],
)
async def test_what_a_biometric_iaq_must_carry(
    lesc: Lesc, sender: str, fields: dict[str, str | None], code: str, detail: str
) -> None:
    gateway = await lesc.start()
    cjis = await lesc.connect(gateway, "WV")
    text = biometric(agency(gateway, "CA"), **fields).replace(FBI_CJIS_ORI, sender, 1)
    await cjis.send(text)
    assert er(await cjis.recv()) == (code, detail)
    assert await nothing_more(cjis)


async def test_another_cjis_ori_from_the_settings(lesc: Lesc) -> None:
    gateway = await lesc.start(cjis_ori="WV0000000")
    wv = await lesc.connect(gateway, "WV")
    ca = await lesc.connect(gateway, "CA")
    booking = agency(gateway, "CA")
    await wv.send(biometric(booking).replace(FBI_CJIS_ORI, "WV0000000", 1))
    assert (await wv.recv()).message.mke == "AM"
    assert routed(await ca.recv_many(2)) == Counter({("IAR", booking): 1, ("IAR", "CASIB0000"): 1})
    # WVIAFIS0Z is then an agency like any other: BOR/ is not for it.
    await wv.send(biometric(booking))
    assert er(await wv.recv())[0] == ".22."


# --- iaqgw stats ------------------------------------------------------------------------


def stats(data_dir: Path) -> dict[str, Any]:
    """``iaqgw stats --json`` for the journal under ``data_dir``, parsed."""
    result = CliRunner().invoke(app, ["stats", "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = orjson.loads(result.stdout)
    return data


async def send_both(lesc: Lesc, cjis: LineClient, tx: LineClient, booking: str) -> None:
    """One biometric IAQ for a CA booking and one biographic IAQ from TX, both answered."""
    await cjis.send(biometric(booking))
    await tx.send(iaq("TX0000000"))
    await cjis.recv()
    await tx.recv_many(2)


async def test_stats_count_biometric_and_biographic_apart(lesc: Lesc) -> None:
    gateway = await lesc.start()
    cjis = await lesc.connect(gateway, "WV")
    tx = await lesc.connect(gateway, "TX")
    ca = await lesc.connect(gateway, "CA")
    booking = agency(gateway, "CA")
    await send_both(lesc, cjis, tx, booking)
    await ca.recv_many(2)

    (year,) = (await asyncio.to_thread(stats, lesc.data_dir))["fiscal_years"]
    states = year["states"]
    # A biometric IAQ counts for the booking agency's state, not the CJIS line.
    assert set(states) == {"CA", "TX"}
    assert states["CA"]["iaq_sources"] == {"biometric": 1, "biographic": 0}
    assert states["CA"]["queries"]["IAQ_C"] == 1 and states["CA"]["distinct_oris"] == 1
    assert states["TX"]["iaq_sources"] == {"biometric": 0, "biographic": 1}
    assert year["total"]["iaq_sources"] == {"biometric": 1, "biographic": 1}
    table = await asyncio.to_thread(
        CliRunner().invoke, app, ["stats", "--data-dir", str(lesc.data_dir)]
    )
    assert "IAQ BIOM" in table.stdout and "IAQ BIOG" in table.stdout


async def test_a_journal_written_before_biometric_counts_stays_readable(lesc: Lesc) -> None:
    gateway = await lesc.start()
    tx = await lesc.connect(gateway, "TX")
    await tx.send(iaq("TX0000000"))
    await tx.recv_many(2)
    await lesc.close()
    lesc.clients.clear()
    lesc.gateways.clear()
    journal = gateway.settings.journal_path
    # The journal as the release before this one wrote it: no biometric column.
    with sqlite3.connect(journal) as db:
        db.execute("ALTER TABLE lesc_queries DROP COLUMN biometric")
    assert "biometric" not in table_columns(sqlite3.connect(journal), "lesc_queries")

    # stats opens it read-only: the old IAQ is biographic.
    (year,) = (await asyncio.to_thread(stats, lesc.data_dir))["fiscal_years"]
    assert year["total"]["iaq_sources"] == {"biometric": 0, "biographic": 1}

    # The gateway adds the column and counts on.
    gateway = await lesc.start()
    assert "biometric" in table_columns(sqlite3.connect(journal), "lesc_queries")
    cjis = await lesc.connect(gateway, "WV")
    tx = await lesc.connect(gateway, "TX")
    ca = await lesc.connect(gateway, "CA")
    await send_both(lesc, cjis, tx, agency(gateway, "CA"))
    await ca.recv_many(2)
    (year,) = (await asyncio.to_thread(stats, lesc.data_dir))["fiscal_years"]
    assert year["total"]["iaq_sources"] == {"biometric": 1, "biographic": 2}


# --- The line registry's column ------------------------------------------------------------


def test_registry_without_the_column_gives_the_default(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text("line,key\nCA,k\n")
    line = load_lines(path).get("CA")
    assert line is not None and line.ident_bureau_ori is None
    assert ident_bureau_ori(line) == "CASIB0000"
    shipped = load_lines(None).get("TX")
    assert shipped is not None and ident_bureau_ori(shipped) == "TXSIB0000"


def test_registry_with_the_column(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text("line,key,ident_bureau_ori\nCA, k , ca0349400 \nTX,k,\n")
    registry = load_lines(path)
    ca, tx = registry.get("CA"), registry.get("TX")
    assert ca is not None and ident_bureau_ori(ca) == "CA0349400"
    assert tx is not None and ident_bureau_ori(tx) == "TXSIB0000"


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ("CA03494", "'CA03494' is not an ORI; write the state identification bureau's ORI as 9"
         " characters, 2 letters then 7 letters or digits, or leave it empty for CASIB0000"),
        ("TX0349400", "TX0349400 is not on line CA; give an ORI starting with CA"),
        ("VTINS07S0", "VTINS07S0 is an ORI of the gateway's own services; give the state"
         " identification bureau's ORI"),
    ],
)
def test_registry_refuses_a_bad_bureau(tmp_path: Path, value: str, refusal: str) -> None:
    path = tmp_path / "lines.csv"
    path.write_text(f"line,key,ident_bureau_ori\nCA,k,{value}\n")
    with pytest.raises(DataFileError) as caught:
        load_lines(path)
    assert str(caught.value) == f"{path} line 2, column ident_bureau_ori: {refusal}"


def test_create_tables_adds_the_column_to_an_old_journal_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE lesc_queries (input_id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
            " purpose TEXT, line TEXT NOT NULL, ori TEXT NOT NULL, received_at REAL NOT NULL,"
            " answered_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO lesc_queries VALUES (1, 'IAQ', 'C', 'TX', 'TX0000000', 0, 0)")
    store = FileStore(path)
    try:
        create_tables(store)
        create_tables(store)
        rows = store.reader().execute("SELECT input_id, biometric FROM lesc_queries")
        assert rows.fetchall() == [(1, 0)]
    finally:
        store.close()


def test_simulated_agencies_never_send_as_the_cjis_ori() -> None:
    # The FBI CJIS Division is no booking agency: an IAQ of the mix sent as it would be
    # taken for a biometric IAQ and refused.
    registry = load_oris(None, ["WV", "CA"])
    assert registry.get(FBI_CJIS_ORI) is not None
    agencies = agencies_by_line(registry, ["WV", "CA"])
    assert agencies["WV"] and FBI_CJIS_ORI not in agencies["WV"]


async def test_simulated_biometric_iaqs_are_answered_to_the_booking_agencies(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(technician_delay="fixed", technician_delay_mean=0.05)
    lines = ["CA", "TX", "WV"]
    options = SimulationOptions(
        target=parse_target(f"127.0.0.1:{gateway.port}"),
        keys={line: dev_key(line) for line in lines},
        rate=300.0, count=120, mix=parse_mix("iaq=1,bio=1"), seed=5, drain=3.0,
    )  # fmt: skip
    data = traffic_data(subjects_from_csv(RECORDS), load_oris(None), lines)
    report = await Simulation(options, data).run()
    assert report.violations == {}, report.examples
    biometric = report.kinds["iaq-b"]
    assert biometric.sent > 20 and biometric.answered == biometric.sent
    assert biometric.errors == 0 and report.answered == report.sent


def test_simulate_refuses_biometric_traffic_without_the_cjis_line() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--lines", "CA,TX", "--mix", "iaq=1,bio=1", "--records", str(RECORDS)]
    )
    assert result.exit_code == 2
    assert "--mix bio sends on line WV (the FBI CJIS Division's): add it to --lines" in (
        result.output
    )
