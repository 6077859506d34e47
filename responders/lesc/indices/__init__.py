"""The indices the emulated LESC searches for an IAQ, one pipeline step each (docs/lesc.md).

Each step reads the validated IAQ's subjects (``subjects_of``) and appends an
:class:`IndexFinding` to their ``findings``, which are ``exchange.data["indices"]``; the IAR
lists them in that order. A distribution builds its IAQ runs from :data:`SEARCHES` and may
add or leave out an index, all but the central one, whose finding is the IAR's status.

A step filters its subjects in a plain loop: on Python 3.11 a comprehension makes a function
and a frame each time it runs, some 800 instructions more than the loop over the one or two
subjects an IAQ has (docs/benchmarks.md, "Round 20").
"""

from typing import Final

from responders.lesc.indices import central, ident, iii, ncic, nseers, sevis
from responders.lesc.indices.finding import IndexFinding

SEARCHES: Final = (central.search, ncic.search, iii.search, sevis.search, ident.search,
                   nseers.search)  # fmt: skip
"""The index searches in the order the LESC runs them."""

__all__ = ["SEARCHES", "IndexFinding"]
