"""The switch's own ORI. Services bring theirs (responders/base.py) and the router learns them."""

from typing import Final

# The sender of ER and SM notices (SPEC.md §1); no line may send as it.
SWITCH_ORI: Final = "NL0000000"
