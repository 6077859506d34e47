"""The LESC answer to an Immigration Alien Query: acknowledgement, index searches, IAR.

PUR/C queries take the criminal-justice run below; PUR/F queries the Brady run
(responders/lesc/brady.py). Both search the indices of responders/lesc/indices/, one step
each, may lodge a detainer (CUS/Y and a REM or IVF record) and may put the query in the
technician queue for an enhanced response. A biometric IAQ (from the FBI CJIS Division,
responders/lesc/biometric.py) takes the criminal-justice run, answered to its booking
agency.
"""

from formats.iaq import IAQ
from responders.base import Exchange, Pipeline
from responders.lesc import LESC, brady
from responders.lesc.biometric import booking_of, classify, to_booking_agency
from responders.lesc.common import count_query
from responders.lesc.detainers import check_detainer, send_detainer_notices
from responders.lesc.enhanced import open_enhanced_case, want_enhanced
from responders.lesc.iaq_steps import acknowledge, answer, read_iaq
from responders.lesc.indices import SEARCHES
from responders.lesc.indices.finding import listing_of
from responders.lesc.read_ahead import read_ahead
from responders.lesc.timing import hold_answer

criminal_justice = Pipeline(
    service=LESC,
    accepts=frozenset({"IAQ"}),
    steps=(
        acknowledge,
        *SEARCHES,
        check_detainer,
        want_enhanced,
        answer,
        send_detainer_notices,
        to_booking_agency,
        open_enhanced_case,
        hold_answer,
    ),
)
"""The PUR/C run over a validated IAQ (``exchange.data["iaq"]``)."""


def count(exchange: Exchange) -> None:
    """Count the query, by purpose and source, and what each index found, for the yearly
    figures."""
    iaq: IAQ = exchange.data["iaq"]
    booking = booking_of(exchange)
    count_query(
        exchange,
        "IAQ",
        iaq.pur,
        None if booking is None else (booking.ori, booking.line),
        listing_of(exchange),
    )


def by_purpose(exchange: Exchange) -> None:
    """Hand the validated query to the run for its purpose."""
    iaq: IAQ = exchange.data["iaq"]
    (brady.pipeline if iaq.pur == "F" else criminal_justice).run(exchange)


pipeline = Pipeline(
    service=LESC,
    accepts=frozenset({"IAQ"}),
    # Counted once answered: the figures hold what the indices found.
    steps=(read_iaq, classify, by_purpose, count),
    prepare=read_ahead,
)
