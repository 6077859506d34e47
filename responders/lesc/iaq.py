"""The LESC answer to an Immigration Alien Query: acknowledgement, index search, IAR.

PUR/C queries take the criminal-justice run below; PUR/F queries the Brady run
(responders/lesc/brady.py). Both may lodge a detainer (CUS/Y and a REM or IVF record) and may put
the query in the technician queue for an enhanced response.
"""

from formats.iaq import IAQ
from responders.base import Exchange, Pipeline
from responders.lesc import LESC, brady
from responders.lesc.common import count_query, parse_body_fields
from responders.lesc.detainers import check_detainer, send_detainer_notices
from responders.lesc.enhanced import open_enhanced_case, want_enhanced
from responders.lesc.iaq_steps import acknowledge, answer, search, validate
from responders.lesc.timing import hold_answer

criminal_justice = Pipeline(
    service=LESC,
    accepts=frozenset({"IAQ"}),
    steps=(
        acknowledge,
        search,
        check_detainer,
        want_enhanced,
        answer,
        send_detainer_notices,
        open_enhanced_case,
        hold_answer,
    ),
)
"""The PUR/C run over a validated IAQ (``exchange.data["iaq"]``)."""


def count(exchange: Exchange) -> None:
    """Count the query, by purpose, for the yearly figures."""
    iaq: IAQ = exchange.data["iaq"]
    count_query(exchange, "IAQ", iaq.pur)


def by_purpose(exchange: Exchange) -> None:
    """Hand the validated query to the run for its purpose."""
    iaq: IAQ = exchange.data["iaq"]
    (brady.pipeline if iaq.pur == "F" else criminal_justice).run(exchange)


pipeline = Pipeline(
    service=LESC,
    accepts=frozenset({"IAQ"}),
    steps=(parse_body_fields, validate, count, by_purpose),
)
