"""``iaqgw stats``: the yearly LESC figures, checked against the traffic the test sent (issue 3)."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from lesc_support import (
    Lesc,
    agency,
    lesc_fixture,  # noqa: F401
    qw,
    yq,
)
from messages import iaq
from typer.testing import CliRunner, Result

from gateway.cli import app
from gateway.clock import ManualClock
from responders.lesc.stats import fiscal_year, format_duration

# Ten minutes before fiscal year 2026 begins.
EVE = datetime(2025, 9, 30, 23, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "year"),
    [
        (datetime(2025, 9, 30, 23, 59, 59, tzinfo=UTC), 2025),
        (datetime(2025, 10, 1, tzinfo=UTC), 2026),
        (datetime(2026, 9, 30, 12, tzinfo=UTC), 2026),
        (datetime(2026, 1, 1, tzinfo=UTC), 2026),
    ],
)
def test_fiscal_year(moment: datetime, year: int) -> None:
    assert fiscal_year(moment) == year


@pytest.mark.parametrize(
    ("ms", "shown"),
    [(None, ""), (0, "0 ms"), (40, "40 ms"), (999, "999 ms"), (1000, "1.0 s"), (1449, "1.4 s"),
     (59_000, "59.0 s"), (90_000, "1.5 min"), (3_600_000, "1.0 h"), (5_400_000, "1.5 h")],
)
def test_format_duration(ms: int | None, shown: str) -> None:
    assert format_duration(ms) == shown


async def cli(*args: str) -> Result:
    """The command line in this process, off the event loop so the gateway keeps going."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def stats(lesc: Lesc, *args: str) -> dict[str, Any]:
    """``iaqgw stats --json``, parsed."""
    result = await cli("stats", "--json", "--data-dir", str(lesc.data_dir), *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = orjson.loads(result.stdout)
    return data


async def test_stats_match_the_traffic(lesc: Lesc) -> None:
    clock = ManualClock(EVE)
    gateway = await lesc.start(
        clock=clock, technician_delay="fixed", technician_delay_mean=90.0, technician_delay_max=90
    )
    a, b = agency(gateway, "CA", 0), agency(gateway, "CA", 1)
    ca = await lesc.connect(gateway, "CA")
    tx = await lesc.connect(gateway, "TX")
    ny = await lesc.connect(gateway, "NY")

    # FY2025, CA: two criminal-justice IAQs by one agency, one lodging a detainer.
    await ca.send(iaq(a, arn="012345678"))
    await ca.recv_many(2)
    await ca.send(iaq(a, arn="033333333", cus="Y"))
    await ca.recv_many(4)
    # FY2025, TX: an IVF inquiry; a bad YQ, which is not a query.
    await tx.send(qw("TX0000000", "LOPEZ, CARLOS", "19750505"))
    await tx.recv()
    await tx.send(yq("TX0000000", pri=None))
    assert (await tx.recv()).message.mke == "ER"

    await lesc.advance(gateway, timedelta(minutes=20))  # 2025-10-01 00:10, FY2026
    # CA: a Brady check; a confirmed hit with a detainer; several records (enhanced, 90 s).
    await ca.send(iaq(b, pur="F", arn="012345678"))
    await ca.recv_many(2)
    await ca.send(yq(b, oca="FY26-1"))
    await ca.recv_many(3)
    await ca.send(iaq(a, nam="SMYTH, JOHN", dob="19800202", sex="M"))
    await ca.recv_many(2)
    # TX: a partial match (technician, 90 s), an unknown NIC and a second request for it.
    await tx.send(yq("TX0000000", oca="P", nam="LOPES, CARLOS"))
    await tx.send(yq("TX0000000", oca="U", nic="I000000001"))
    await tx.recv()
    await tx.send(yq("TX0000000", oca="U", nic="I000000001", rno="2"))
    await tx.recv()
    await lesc.wait_open(gateway, 2)
    await lesc.advance(gateway, timedelta(seconds=90))
    assert (await ca.recv()).message.mke == "IAR"  # the enhanced response
    assert [o.message.mke for o in await tx.recv_many(3)] == ["YR", "AM", "AM"]
    # NY: a request still open.
    await ny.send(yq("NY0000000", oca="N", pri="R", nam="LOPES, CARLOS"))
    await lesc.wait_open(gateway, 1)

    data = await stats(lesc)
    fy2025, fy2026 = data["fiscal_years"]
    assert (fy2025["fiscal_year"], fy2025["from"], fy2025["to"]) == (2025, "2024-10-01",
                                                                      "2025-09-30")
    assert fy2026["fiscal_year"] == 2026

    ca25, tx25 = fy2025["states"]["CA"], fy2025["states"]["TX"]
    assert set(fy2025["states"]) == {"CA", "TX"}
    assert ca25["queries"] == {"IAQ_C": 2, "IAQ_F": 0, "YQ": 0, "QW": 0, "total": 2}
    assert ca25["detainers"] == 1 and ca25["distinct_oris"] == 1
    assert ca25["response_ms"] == {"count": 2, "median": 0, "p99": 0}
    assert tx25["queries"]["QW"] == 1 and tx25["queries"]["YQ"] == 0
    assert fy2025["total"]["distinct_oris"] == 2 and fy2025["total"]["detainers"] == 1

    ca26, tx26, ny26 = (fy2026["states"][s] for s in ("CA", "TX", "NY"))
    assert ca26["queries"] == {"IAQ_C": 1, "IAQ_F": 1, "YQ": 1, "QW": 0, "total": 3}
    assert ca26["hit_confirmations"] == {"confirmed": 1, "not_confirmed": 0, "open": 0}
    assert ca26["detainers"] == 1 and ca26["distinct_oris"] == 2
    assert ca26["response_ms"]["count"] == 3 and ca26["response_ms"]["median"] == 0
    assert ca26["response_ms"]["p99"] == pytest.approx(90_000, rel=1e-3)
    assert tx26["queries"]["YQ"] == 3
    assert tx26["hit_confirmations"] == {"confirmed": 1, "not_confirmed": 1, "open": 0}
    assert tx26["detainers"] == 1 and tx26["distinct_oris"] == 1
    # The follow-up belongs to its case: two requests timed, 0 ms and 90 s.
    assert tx26["response_ms"]["count"] == 2
    assert ny26["hit_confirmations"] == {"confirmed": 0, "not_confirmed": 0, "open": 1}
    assert ny26["response_ms"] == {"count": 0, "median": None, "p99": None}
    total = fy2026["total"]
    assert total["queries"] == {"IAQ_C": 1, "IAQ_F": 1, "YQ": 5, "QW": 0, "total": 7}
    assert total["hit_confirmations"] == {"confirmed": 2, "not_confirmed": 1, "open": 1}
    assert total["detainers"] == 2 and total["distinct_oris"] == 4
    assert total["response_ms"]["count"] == 5 and total["response_ms"]["median"] == 0
    assert total["response_ms"]["p99"] == pytest.approx(90_000, rel=1e-3)

    only = await stats(lesc, "--year", "2025")
    assert [y["fiscal_year"] for y in only["fiscal_years"]] == [2025]
    table = await cli("stats", "--data-dir", str(lesc.data_dir))
    assert table.exit_code == 0, table.output
    assert "FY2025" in table.stdout and "FY2026" in table.stdout
    # FY2026 in total: medians below a second in ms, the 90 s technician answers in minutes.
    # Each year's figures, then its hits per index: FY2026's figures are the last but one.
    totals = [line for line in table.stdout.splitlines() if "TOTAL" in line]
    total = totals[-2].split("│")
    assert [cell.strip() for cell in total[1:-1]] == [
        "TOTAL", "1", "1", "0", "2", "5", "0", "2", "2", "1", "1", "4", "0 ms", "1.5 min"
    ]


async def test_stats_without_journal_or_traffic(lesc: Lesc) -> None:
    missing = await cli("stats", "--data-dir", str(lesc.data_dir))
    assert missing.exit_code == 1 and "no journal" in missing.stderr
    await lesc.start()
    assert await stats(lesc) == {"fiscal_years": []}
    empty = await cli("stats", "--data-dir", str(lesc.data_dir))
    assert empty.exit_code == 0 and "no LESC traffic" in empty.stdout
