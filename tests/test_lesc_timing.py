"""Response time profiles (issue 12, item 2): the IAR held for the indices' research time.

The gateway runs on a ManualClock that the tests move, so minutes of research take
milliseconds. Timings that must be exact use ``lesc_timing_fixed``; drawn ones are checked
against the bound the distributions give, so the tests hold whichever indices a query lists.
"""

import sqlite3
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lesc_support import (
    Lesc,
    agency,
    fields_of,
    iaqgw_async,
    lesc_fixture,  # noqa: F401
    lesc_of,
    nothing_more,
    qw,
)
from messages import iaq

from responders.lesc.stats import compute
from responders.lesc.timing import LONGEST, RESEARCH, STATE_REPOSITORY, ResearchTime
from simulator.client import LineClient, Received

CA = "CA0000000"
SECOND = timedelta(seconds=1)
REALISTIC = {"lesc_timing": "realistic"}


@dataclass(frozen=True)
class Finding:
    """An index's finding as the timing reads it."""

    index: str
    repositories: int = 0


async def acknowledged(client: LineClient) -> Received:
    """The LESC acknowledgement, and nothing after it yet."""
    ack = await client.recv()
    assert ack.message.mke == "AM" and "LESC ACKNOWLEDGES RECEIPT" in ack.message.body
    assert await nothing_more(client, 0.1)
    return ack


def held_rows(lesc: Lesc) -> list[tuple[float, float, float | None]]:
    """(received_at, release_at, released_at) of every held answer in the journal."""
    db = sqlite3.connect(lesc.data_dir / "journal.sqlite3")
    try:
        return db.execute(
            "SELECT received_at, release_at, released_at FROM lesc_held ORDER BY input_id"
        ).fetchall()
    finally:
        db.close()


# The draws


def test_draws_are_deterministic_per_query() -> None:
    timing = ResearchTime()
    findings = [Finding("CIS"), Finding("NCIC"), Finding("III", 4), Finding("SEVIS")]
    assert timing.of(findings, b"query one") == timing.of(findings, b"query one")
    assert timing.of(findings, b"query one") != timing.of(findings, b"query two")


def test_the_slowest_index_wins_and_iii_waits_for_its_slowest_state() -> None:
    seed = b"CA0000000\x1fQ1\x1fNAM/GARCIA, MARIA."
    findings = [Finding("CIS"), Finding("NCIC"), Finding("IDENT"), Finding("III", 3)]
    each = [ResearchTime.index_time(finding, seed) for finding in findings]
    assert ResearchTime().of(findings, seed) == max(each)
    # III queried no state repository: its index search alone, at most its cap.
    alone = ResearchTime.index_time(Finding("III"), seed)
    assert alone <= RESEARCH["III"].cap
    assert ResearchTime.index_time(Finding("III", 3), seed) > alone
    # An index's draw does not depend on the others searched with it.
    assert ResearchTime().of([Finding("IDENT")], seed) == each[2]


def test_no_findings_listed_times_the_central_index() -> None:
    seed = b"seed"
    assert ResearchTime().of([], seed) == ResearchTime.index_time(Finding("CIS"), seed)


def test_scale_and_fixed() -> None:
    findings = [Finding("III", 10)]
    full = ResearchTime().of(findings, b"s")
    assert ResearchTime(scale=0.01).of(findings, b"s") == pytest.approx(full / 100)
    assert ResearchTime(fixed=7.5).of(findings, b"s") == 7.5


@given(
    st.lists(
        st.builds(Finding, st.sampled_from(["CIS", "NCIC", "III", "SEVIS", "IDENT", "NSEERS",
                                            "OTHER"]), st.integers(0, 60)),
        max_size=8,
    ),
    st.binary(max_size=64),
)
def test_every_draw_is_within_the_longest(findings: list[Finding], seed: bytes) -> None:
    seconds = ResearchTime().of(findings, seed)
    assert 0 < seconds <= LONGEST
    assert RESEARCH["III"].cap + STATE_REPOSITORY.cap == LONGEST


# The gateway


async def test_immediate_is_the_default(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA))
    ack, iar = await client.recv_many(2)
    assert (ack.message.mke, iar.message.mke) == ("AM", "IAR")
    assert held_rows(lesc) == []


async def test_realistic_acknowledges_at_once_and_answers_after_the_research(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=90.0)
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA, control="R1"))
    ack = await acknowledged(client)
    assert ack.seq == 1
    assert lesc_of(gateway).held.held_count() == 1
    gauges = {gauge.name: gauge.value for gauge in lesc_of(gateway).gauges()}
    assert gauges["iaqgw_held_iars"] == 1
    await lesc.advance(gateway, 89 * SECOND)
    assert await nothing_more(client, 0.1)
    await lesc.advance(gateway, SECOND)
    iar = await client.recv()
    assert iar.message.mke == "IAR" and iar.seq == 2
    assert fields_of(iar)["STS"] == "LPR"
    # Header line 2 and the control field are the IAQ's, and so is the LCN.
    assert iar.message.in_seq == ack.message.in_seq == 1 and iar.message.control == "R1"
    assert iar.message.in_time == ack.message.in_time
    # Header clocks are whole minutes: 14:00 in, 14:01 out (90 s later).
    assert iar.message.out_time - iar.message.in_time == timedelta(minutes=1)
    assert fields_of(iar)["LCN"] in ack.message.body
    [released] = lesc.events("iar.released")
    assert released["research_ms"] == 90_000 and released["late_ms"] == 0
    # Released once: a later sweep sends nothing more.
    await lesc.advance(gateway, 60 * SECOND)
    assert lesc_of(gateway).held.release(gateway.clock.now()) == 0
    assert await nothing_more(client, 0.1)
    [(received, release, sent)] = held_rows(lesc)
    assert release - received == 90 and sent == release


async def test_drawn_research_time_is_within_the_bound(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC)
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA))
    await acknowledged(client)
    [(received, release, _)] = held_rows(lesc)
    assert 0 < release - received <= LONGEST
    await lesc.advance(gateway, timedelta(seconds=LONGEST))
    iar = await client.recv()
    assert iar.message.mke == "IAR"


async def test_detainer_notices_go_with_the_held_iar(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=30.0)
    sender = agency(gateway, "CA")
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(sender, arn="033333333", cus="Y", control="D1"))
    await acknowledged(client)
    # The detainer is recorded with the query: a second one finds it in place.
    assert lesc_of(gateway).casebook.detainer_in_place(sender, "033333333")
    await lesc.advance(gateway, 30 * SECOND)
    iar, notice, copy = await client.recv_many(3)
    assert iar.message.mke == "IAR" and fields_of(iar)["DTN"] == "Y"
    assert (notice.message.dest, copy.message.dest) == (sender, "CAICE0000")
    assert all(out.message.body.startswith("IMMIGRATION DETAINER LODGED") for out in (notice,
                                                                                      copy))
    assert all(out.message.control == "D1" for out in (iar, notice, copy))


async def test_nics_copy_goes_with_the_held_iar(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=10.0)
    ca = await lesc.connect(gateway, "CA")
    wv = await lesc.connect(gateway, "WV")
    await ca.send(iaq(CA, pur="F", arn="012345678"))
    await acknowledged(ca)
    assert await nothing_more(wv, 0.1)
    await lesc.advance(gateway, 10 * SECOND)
    iar = await ca.recv()
    copy = await wv.recv()
    assert copy.message.dest == "WVFBINICS" and copy.message.body == iar.message.body


async def test_enhanced_response_follows_the_held_iar(lesc: Lesc) -> None:
    # The technician takes 5 s, the research 60 s: the enhanced IAR comes 5 s after the first.
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=60.0,
                               technician_delay="fixed", technician_delay_mean=5.0)
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA, nam="SMYTH, JOHN", dob="19800202", sex="M", control="E1"))
    await acknowledged(client)
    await lesc.advance(gateway, 59 * SECOND)
    assert await nothing_more(client, 0.1)
    await lesc.advance(gateway, SECOND)
    first = await client.recv()
    assert fields_of(first)["STS"] == "MLT" and "ENH" not in fields_of(first)
    await lesc.advance(gateway, 4 * SECOND)
    assert await nothing_more(client, 0.1)
    await lesc.advance(gateway, SECOND)
    enhanced = await client.recv()
    assert fields_of(enhanced)["ENH"] == "Y" and enhanced.message.control == "E1"


async def test_held_answer_survives_a_restart(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=120.0)
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA, control="S1"))
    await acknowledged(client)
    await client.close()
    await gateway.stop()
    # Down past the release time: the restarted gateway sends the IAR at once, once.
    lesc.clock.advance(timedelta(minutes=5))
    again = await lesc.start(**REALISTIC, lesc_timing_fixed=120.0)
    client = await lesc.connect(again, "CA")
    iar = await client.recv()
    assert iar.message.mke == "IAR" and iar.message.control == "S1" and iar.seq == 2
    assert iar.message.in_seq == 1
    assert await nothing_more(client, 0.2)
    [released] = lesc.events("iar.released")
    assert released["late_ms"] == 180_000


async def test_figures_count_the_response_time_to_the_iar(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=75.0)
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA))
    await acknowledged(client)
    await lesc.advance(gateway, 75 * SECOND)
    await client.recv()
    db = sqlite3.connect(lesc.data_dir / "journal.sqlite3")
    try:
        [year] = compute(db)
    finally:
        db.close()
    # 75 s to the IAR (not the acknowledgement's 0), at the histogram's 3 significant digits.
    assert year.total().percentile(50) == pytest.approx(75_000, rel=1e-3)


async def test_queries_to_ncic_are_not_held(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=60.0)
    client = await lesc.connect(gateway, "CA")
    await client.send(qw(CA, "LOPEZ, CARLOS", "19750505"))
    qr = await client.recv()
    assert qr.message.mke == "QR"
    assert held_rows(lesc) == []


async def test_queue_list_shows_the_held_iars(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=60.0)
    client = await lesc.connect(gateway, "CA")
    # Several records: an enhanced case opens, its first IAR held.
    await client.send(iaq(CA, nam="SMYTH, JOHN", dob="19800202", sex="M"))
    await acknowledged(client)
    done = await iaqgw_async("queue", "list", "--data-dir", str(lesc.data_dir))
    assert done.returncode == 0, done.stderr
    assert "open (IAR held)" in done.stdout
    assert ("1 IAR(s) held for their research time (--lesc-timing realistic); the next goes"
            " out at 2026-03-02 14:01:00") in done.stdout
    await lesc.advance(gateway, 60 * SECOND)
    await client.recv()
    done = await iaqgw_async("queue", "list", "--data-dir", str(lesc.data_dir))
    assert "IAR held" not in done.stdout and "held for" not in done.stdout



async def test_a_release_that_fails_backs_off_and_the_others_go_out(lesc: Lesc) -> None:
    gateway = await lesc.start(**REALISTIC, lesc_timing_fixed=30.0)
    ca = await lesc.connect(gateway, "CA")
    tx = await lesc.connect(gateway, "TX")
    await ca.send(iaq(CA, control="C1"))
    await acknowledged(ca)
    await lesc.advance(gateway, SECOND / 2)
    await tx.send(iaq("TX0000000", control="T1"))
    await acknowledged(tx)
    await ca.close()
    await tx.close()
    await gateway.stop()
    # Back with a line registry that lost CA: CA's IAR has no line to go to.
    registry = lesc.tmp_path / "lines.csv"
    registry.write_text("line,key\nTX,PLAIN-TX\n")
    again = await lesc.start(**REALISTIC, lesc_timing_fixed=30.0, lines=registry)
    tx = await lesc.connect(again, "TX", key="PLAIN-TX")
    await lesc.advance(again, 29.5 * SECOND)
    [failed] = lesc.events("iar.release_failed")
    assert failed["retry_s"] == 1 and "on no line" in failed["error"]
    # The failed one waits for its retry; TX's, due half a second later, does not wait for it.
    held = lesc_of(again).held
    assert held.next_due() == again.clock.now() + SECOND / 2
    await lesc.advance(again, SECOND / 2)
    iar = await tx.recv()
    assert iar.message.mke == "IAR" and iar.message.control == "T1"
    assert held.next_due() == again.clock.now() + SECOND / 2
    # At its retry it fails again and backs off twice as long.
    await lesc.advance(again, SECOND / 2)
    assert [e["retry_s"] for e in lesc.events("iar.release_failed")] == [1, 2]
    assert held.held_count() == 1
