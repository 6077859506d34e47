"""The gateway and the LESC end to end on PostgreSQL (``IAQGW_STORE``): tests written for
the SQLite journal, run again unchanged on a shared database.

Importing a test function makes pytest collect it here too; the fixture below points every
gateway these tests start, and every ``iaqgw`` command they run, at a fresh database.
"""

from collections.abc import Iterator

import pytest
from lesc_support import lesc_fixture  # noqa: F401
from test_lesc_deadlines import (  # noqa: F401
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


@pytest.fixture(autouse=True)
def shared_store(postgres: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every gateway and command of the test on one fresh PostgreSQL database."""
    monkeypatch.setenv("IAQGW_STORE", postgres)
    yield postgres
