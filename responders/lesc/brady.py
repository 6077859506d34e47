"""PUR/F: the firearms (Brady / NICS) check, its own run of the LESC IAQ answer.

The registry keys pipelines by (service, MKE), and ``(lesc, IAQ)`` belongs to the pipeline in
responders/lesc/iaq.py, which validates the query and hands PUR/F to :data:`pipeline` here.
Differences from a criminal-justice IAQ: the IAR says what the status means under
18 U.S.C. 922(g)(5); statuses that may prohibit (NIV, OOS, REM) and several possible records
(MLT) go to the technician for a manual check, whose answer is an enhanced IAR; every
response is also copied to the NICS ORI (``IAQGW_NICS_ORI``).
"""

from responders.base import Exchange, Pipeline
from responders.lesc import LESC
from responders.lesc.desk import lesc_state
from responders.lesc.detainers import check_detainer, send_detainer_notices
from responders.lesc.enhanced import open_enhanced_case, want_enhanced
from responders.lesc.iaq_steps import (
    FIREARMS,
    FIREARMS_IN_PROGRESS,
    FIREARMS_MANUAL,
    acknowledge,
    add_note,
    answer,
    nics_copies,
)
from responders.lesc.indices import SEARCHES
from responders.lesc.timing import hold_answer


def firearms_check(exchange: Exchange) -> None:
    """Say what the status means for a firearms transfer, or send it for a manual check."""
    status: str = exchange.data["status"]
    if status not in FIREARMS_MANUAL:
        add_note(exchange, FIREARMS[status])
        return
    add_note(exchange, FIREARMS_IN_PROGRESS)
    # The answer step says, once, that the technician's enhanced response follows.
    exchange.data["enhanced"] = True


def copy_to_nics(exchange: Exchange) -> None:
    """Copy the IAR to the NICS ORI."""
    iars = [reply for reply in exchange.outputs if reply.mke == "IAR"]
    exchange.outputs.extend(nics_copies(lesc_state(exchange), exchange.message.sender, iars))


pipeline = Pipeline(
    service=LESC,
    accepts=frozenset({"IAQ"}),
    steps=(
        acknowledge,
        *SEARCHES,
        check_detainer,
        want_enhanced,
        firearms_check,
        answer,
        copy_to_nics,
        send_detainer_notices,
        open_enhanced_case,
        hold_answer,
    ),
)
"""The Brady run over a validated IAQ (``exchange.data["iaq"]``)."""
