"""Hit confirmation deadlines and escalation on a manual clock, over real TCP (issue 3).

The 10-minute and 1-hour rules run in milliseconds: the clock is a ManualClock that the test
moves, and the gateway's scheduler is nudged instead of waited for (but in one test, which
waits a fifth of a second on the system clock).
"""

import asyncio
from datetime import timedelta

import pytest
from lesc_support import (
    START,
    Lesc,
    agency,
    fields_of,
    lesc_fixture,  # noqa: F401
    lesc_of,
    nothing_more,
    yq,
)

from gateway.clock import ManualClock, SystemClock
from simulator.client import LineClient

TX = "TX0000000"
PARTIAL = {"nam": "LOPES, CARLOS"}  # same Soundex as LOPEZ: a technician must look
MINUTE = timedelta(minutes=1)


async def expect_shutdown_notice(client: LineClient) -> None:
    """The SM of the orderly shutdown, held for the line and sent after its sign-on."""
    out = await client.recv()
    assert out.message.mke == "SM" and "OUT OF SERVICE" in out.message.body


@pytest.mark.parametrize(
    ("pri", "due", "rtm"),
    [
        ("U", timedelta(minutes=8), "1418"),  # 10-minute rule, 2-minute margin
        ("R", timedelta(minutes=50), "1550"),  # 1-hour rule, 10-minute margin
    ],
)
async def test_pending_yr_before_the_deadline(
    lesc: Lesc, pri: str, due: timedelta, rtm: str
) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "TX")
    await client.send(yq(TX, pri=pri, control="P1", **PARTIAL))
    await lesc.wait_open(gateway, 1)
    assert await nothing_more(client, 0.1)
    await lesc.advance(gateway, due - timedelta(seconds=1))
    assert lesc_of(gateway).deadlines.tick() == 0
    assert await nothing_more(client, 0.1)
    await lesc.advance(gateway, timedelta(seconds=1))
    yr = await client.recv()
    fields = fields_of(yr)
    assert yr.message.mke == "YR" and yr.message.dest == TX
    assert fields["STA"] == "PENDING" and fields["RTM"] == rtm
    assert fields["NAO"] == "LESC HIT CONFIRMATION UNIT"
    assert "DTN" not in fields
    # Header line 2 and the control field are the YQ's.
    assert yr.message.in_seq == 1 and yr.message.control == "P1"
    assert yr.seq == 1
    [event] = lesc.events("hit.deadline")
    margin = (timedelta(minutes=10) if pri == "U" else timedelta(hours=1)) - due
    assert event["sta"] == "PENDING" and event["rtm"] == rtm
    assert event["margin_ms"] == margin.total_seconds() * 1000
    assert event["late_ms"] == 0 and event["level"] == "info"


async def test_pending_is_renewed_until_the_technician_answers(lesc: Lesc) -> None:
    # The technician takes 17 minutes: two PENDINGs, then the final answer.
    gateway = await lesc.start(
        technician_delay="fixed", technician_delay_mean=17 * 60, technician_delay_max=3600
    )
    client = await lesc.connect(gateway, "TX")
    await client.send(yq(TX, **PARTIAL))
    await lesc.wait_open(gateway, 1)
    await lesc.advance(gateway, 8 * MINUTE)
    first = fields_of(await client.recv())
    assert (first["STA"], first["RTM"]) == ("PENDING", "1418")
    await lesc.advance(gateway, 7 * MINUTE)
    assert await nothing_more(client, 0.1)
    await lesc.advance(gateway, MINUTE)  # 14:16, two minutes before the promised 14:18
    second = fields_of(await client.recv())
    assert (second["STA"], second["RTM"]) == ("PENDING", "1426")
    await lesc.advance(gateway, MINUTE)  # 14:17: the technician has the answer
    final = await client.recv()
    assert fields_of(final)["STA"] == "CONFIRMED" and fields_of(final)["DTN"] == "Y"
    assert fields_of(final)["NAO"].startswith("LESC TECHNICIAN")
    assert final.message.in_seq == 1
    notices = await client.recv_many(2)
    assert [out.seq for out in notices] == [4, 5]
    assert all(n.message.body.startswith("IMMIGRATION DETAINER LODGED") for n in notices)
    assert [e["sta"] for e in lesc.events("hit.deadline")] == ["PENDING", "PENDING", "CONFIRMED"]
    assert lesc.events("hit.deadline")[-1]["margin_ms"] == 9 * 60 * 1000
    assert lesc_of(gateway).casebook.open_count() == 0


async def test_a_case_due_before_the_next_sweep_wakes_the_scheduler(lesc: Lesc) -> None:
    # On the system clock, with the next look for operators' answers an hour away: the
    # technician's answer, a fifth of a second after the case opens, comes only if opening it
    # told the scheduler of that time.
    gateway = await lesc.start(
        clock=SystemClock(), queue_poll=3600,
        technician_delay="fixed", technician_delay_mean=0.2, technician_delay_max=1,
    )  # fmt: skip
    client = await lesc.connect(gateway, "TX")
    await client.send(yq(TX, **PARTIAL))
    final = fields_of(await asyncio.wait_for(client.recv(), 10))
    assert final["STA"] == "CONFIRMED" and final["NAO"].startswith("LESC TECHNICIAN")


async def test_second_and_third_request_answered_at_once(lesc: Lesc) -> None:
    gateway = await lesc.start()
    sender = agency(gateway, "TX")
    client = await lesc.connect(gateway, "TX")
    await client.send(yq(sender, oca="B-1", **PARTIAL))
    await lesc.wait_open(gateway, 1)
    await lesc.advance(gateway, 3 * MINUTE)
    await client.send(yq(sender, oca="B-1", rno="2", **PARTIAL))
    second = await client.recv()
    fields = fields_of(second)
    assert (fields["STA"], fields["RNO"], fields["RTM"]) == ("PENDING", "2", "1413")
    assert second.message.in_seq == 2  # it answers the second request
    await lesc.advance(gateway, 2 * MINUTE)
    await client.send(yq(sender, oca="B-1", rno="3", pri="R", **PARTIAL))
    third, notice = await client.recv_many(2)
    fields = fields_of(third)
    assert (fields["STA"], fields["RNO"], fields["RTM"]) == ("PENDING", "3", "1505")
    assert notice.message.mke == "AM" and notice.message.dest == TX  # state control ORI
    assert notice.message.body.startswith("THIRD REQUEST FOR HIT CONFIRMATION")
    assert fields_of(notice)["ORI"] == sender and fields_of(notice)["OCA"] == "B-1"
    # The promise is now RTM 15:05 for PRI/R: nothing more before 14:55.
    await lesc.advance(gateway, 49 * MINUTE)
    assert lesc_of(gateway).deadlines.tick() == 0
    await lesc.advance(gateway, MINUTE)
    assert fields_of(await client.recv())["STA"] == "PENDING"
    assert [e["rno"] for e in lesc.events("hit.deadline")] == [1, 2, 3]
    [case] = [c for c, _ in lesc_of(gateway).casebook.pending_due(START + timedelta(days=1), 5)]
    assert case.rno == 3 and case.pendings == 3 and case.pri == "R"


async def test_follow_up_to_a_closed_request_repeats_its_answer(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "TX")
    await client.send(yq(TX, oca="C-9"))
    first = await client.recv()
    await client.recv_many(2)  # the detainer notices
    await client.send(yq(TX, oca="C-9", rno="2"))
    again = await client.recv()
    assert fields_of(again)["STA"] == "CONFIRMED" and fields_of(again)["DTN"] == "Y"
    assert fields_of(again)["RNO"] == "2"
    assert "REPEATED ANSWER" in again.message.body
    assert fields_of(first)["NAO"] == fields_of(again)["NAO"]
    await client.send(yq(TX, oca="C-9", rno="3"))
    third, notice = await client.recv_many(2)
    assert fields_of(third)["STA"] == "CONFIRMED"
    assert notice.message.body.startswith("THIRD REQUEST FOR HIT CONFIRMATION")
    assert await nothing_more(client)
    assert len(lesc.events("detainer.lodged")) == 1


@pytest.mark.parametrize(
    ("down_until", "then"),
    [
        (timedelta(minutes=5), timedelta(minutes=3)),  # back before it is due: waits for it
        (timedelta(minutes=9), timedelta(0)),  # back after it fell due: sent at once
    ],
)
async def test_restart_keeps_the_deadline(
    lesc: Lesc, down_until: timedelta, then: timedelta
) -> None:
    first = await lesc.start()
    client = await lesc.connect(first, "TX")
    await client.send(yq(TX, control="R1", **PARTIAL))
    await lesc.wait_open(first, 1)
    await first.stop()
    await client.closed(timeout=5)

    clock = ManualClock(START + down_until)
    second = await lesc.start(clock=clock)
    client = await lesc.connect(second, "TX")
    await expect_shutdown_notice(client)
    if then:
        assert lesc_of(second).deadlines.tick() == 0
        assert await nothing_more(client, 0.1)
        await lesc.advance(second, then)
    yr = await client.recv()
    fields = fields_of(yr)
    assert fields["STA"] == "PENDING"
    assert yr.message.in_seq == 1 and yr.message.control == "R1"
    assert yr.seq == 2  # after the shutdown SM, no gap
    [event] = lesc.events("hit.deadline")
    # Sent before the 10-minute deadline, with the margin left logged.
    assert event["margin_ms"] == (timedelta(minutes=10) - max(down_until, 8 * MINUTE)) / (
        timedelta(milliseconds=1)
    )
    assert event["margin_ms"] > 0


async def test_deadline_missed_while_down_is_sent_at_once_and_logged(lesc: Lesc) -> None:
    first = await lesc.start()
    client = await lesc.connect(first, "TX")
    await client.send(yq(TX, **PARTIAL))
    await lesc.wait_open(first, 1)
    await first.stop()
    await client.closed(timeout=5)
    second = await lesc.start(clock=ManualClock(START + 11 * MINUTE))
    client = await lesc.connect(second, "TX")
    await expect_shutdown_notice(client)
    assert fields_of(await client.recv())["STA"] == "PENDING"
    [event] = lesc.events("hit.deadline")
    assert event["level"] == "warning" and event["margin_ms"] == -60_000


async def test_two_answers_in_one_sweep_lodge_one_detainer(lesc: Lesc) -> None:
    # Two hit confirmations of one agency for one subject (two cases: two OCAs), answered by
    # the technician in the same sweep: the second answer sees the first's detainer.
    gateway = await lesc.start(
        technician_delay="fixed", technician_delay_mean=60, technician_delay_max=3600
    )
    client = await lesc.connect(gateway, "TX")
    await client.send(yq(TX, oca="CASE-1", control="A", **PARTIAL))
    await client.send(yq(TX, oca="CASE-2", control="B", **PARTIAL))
    await lesc.wait_open(gateway, 2)
    await lesc.advance(gateway, MINUTE)
    outputs = await client.recv_many(4)
    finals = [fields_of(out) for out in outputs if out.message.mke == "YR"]
    assert [(f["STA"], f["DTN"]) for f in finals] == [("CONFIRMED", "Y")] * 2
    # One detainer: one notice to the agency and its copy to the ICE field office.
    notices = [out for out in outputs if out.message.mke == "AM"]
    assert len(notices) == 2
    assert all(n.message.body.startswith("IMMIGRATION DETAINER LODGED") for n in notices)
    assert len(lesc.events("detainer.lodged")) == 1
    assert await nothing_more(client, 0.1)
