"""The gateway and the LESC end to end on PostgreSQL (``IAQGW_STORE``): tests written for
the SQLite journal, run again unchanged on a shared database.

Importing a test function makes pytest collect it here too; the fixture below points every
gateway these tests start, and every ``iaqgw`` command they run, at a fresh database.
"""

import threading
from datetime import timedelta

import psycopg
import pytest
from lesc_support import (
    START,
    Lesc,
    agency,
    fields_of,
    lesc_fixture,  # noqa: F401
    lesc_of,
    yq,
)
from messages import iaq
from test_lesc_deadlines import (  # noqa: F401
    MINUTE,
    PARTIAL,
    TX,
    test_pending_is_renewed_until_the_technician_answers,
    test_pending_yr_before_the_deadline,
    test_restart_keeps_the_deadline,
    test_second_and_third_request_answered_at_once,
    test_two_answers_in_one_sweep_lodge_one_detainer,
)
from test_lesc_hits import (  # noqa: F401
    test_confirmed_hit_lodges_detainer_with_ice_copy,
    test_requests_in_one_read_find_each_other,
)
from test_lesc_queue import (  # noqa: F401
    test_iaq_in_custody_lodges_detainer,
    test_operator_answers_through_the_cli,
)
from test_lesc_stats import test_stats_match_the_traffic  # noqa: F401
from test_switch_core import (  # noqa: F401
    test_am_line_to_line,
    test_iaq_by_a_number,
    test_signon_accepted_reports_last_ack,
    test_store_and_forward_in_order_then_ack,
)

# Every gateway and command of each test here on one fresh PostgreSQL database.
pytestmark = pytest.mark.usefixtures("shared_store")


# ---------------------------------------------------------------------------------------------
# One LESC for every instance on the database


async def test_a_follow_up_on_another_instance_finds_the_case(lesc: Lesc) -> None:
    first, second = await lesc.start(), await lesc.start()
    sender = agency(first, "TX")
    at_first = await lesc.connect(first, "TX")
    await at_first.send(yq(sender, oca="B-1", **PARTIAL))
    await lesc.wait_open(first, 1)
    await lesc.wait_open(second, 1)
    at_second = await lesc.connect(second, "TX")
    await lesc.advance(second, 3 * MINUTE)
    await at_second.send(yq(sender, oca="B-1", rno="2", **PARTIAL))
    answer = await at_second.recv()
    # The second request of the case (not a new first request): PENDING with RNO/2.
    assert (fields_of(answer)["STA"], fields_of(answer)["RNO"]) == ("PENDING", "2")
    [case] = lesc_of(first).casebook.pending_due(START + timedelta(days=1), 5)
    assert case[0].rno == 2 and case[0].pendings == 1


async def test_a_due_pending_goes_out_once_from_whichever_instance_claims_it(
    lesc: Lesc, shared_store: str
) -> None:
    first, second = await lesc.start(), await lesc.start()
    client = await lesc.connect(first, "TX")
    await client.send(yq(TX, **PARTIAL))
    await lesc.wait_open(first, 1)
    [(case, _)] = lesc_of(first).casebook.pending_due(START + timedelta(days=1), 5)
    # Another instance is acting on the case: its row is locked (for two seconds at most, so
    # that an instance waiting for the lock instead of skipping the case shows).
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(shared_store) as other:
            other.execute("SELECT 1 FROM lesc_cases WHERE id = %s FOR UPDATE", (case.id,))
            locked.set()
            release.wait(2)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    lesc.clock.advance(8 * MINUTE)
    assert lesc_of(second).deadlines.tick() == 0
    assert lesc_of(first).deadlines.tick() == 0
    assert lesc.events("deadline.failed") == []
    release.set()
    holder.join()
    # Released (that instance died before it acted): both sweep, one sends.
    sent = lesc_of(second).deadlines.tick() + lesc_of(first).deadlines.tick()
    assert sent == 1
    [event] = lesc.events("hit.deadline")
    assert event["margin_ms"] > 0
    with psycopg.connect(shared_store) as db:
        pendings = db.execute(
            "SELECT COUNT(*) FROM outputs WHERE line = 'TX' AND text LIKE '%%STA/PENDING%%'"
        ).fetchone()
    assert pendings == (1,)


async def test_a_held_iar_goes_out_once_from_whichever_instance_claims_it(
    lesc: Lesc, shared_store: str
) -> None:
    first = await lesc.start(lesc_timing="realistic", lesc_timing_fixed=60.0)
    second = await lesc.start(lesc_timing="realistic", lesc_timing_fixed=60.0)
    client = await lesc.connect(first, "CA")
    await client.send(iaq(agency(first, "CA")))
    ack = await client.recv()
    assert ack.message.mke == "AM"
    # Another instance is releasing it: its row is locked, and neither instance waits for it.
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(shared_store) as other:
            other.execute("SELECT 1 FROM lesc_held FOR UPDATE")
            locked.set()
            release.wait(2)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    lesc.clock.advance(2 * MINUTE)
    now = lesc.clock.now()
    assert lesc_of(second).held.release(now) == 0
    assert lesc_of(first).held.release(now) == 0
    release.set()
    holder.join()
    # That instance died before it committed: both try again, one sends.
    assert lesc_of(second).held.release(now) + lesc_of(first).held.release(now) == 1
    with psycopg.connect(shared_store) as db:
        iars = db.execute("SELECT COUNT(*) FROM outputs WHERE mke = 'IAR'").fetchone()
    assert iars == (1,)
