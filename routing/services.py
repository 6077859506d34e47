"""Destinations answered inside the gateway (SPEC.md §1) and the ORIs they send as."""

from typing import Final

LESC_ORI: Final = "VTINS07S0"
SWITCH_ORI: Final = "NL0000000"
NCIC_ORI: Final = "DCFBIWA00"

# Only the gateway sends as these; a line presenting one as its sender is a security event.
SERVICE_ORIS: Final = frozenset({LESC_ORI, SWITCH_ORI, NCIC_ORI})

LESC: Final = "lesc"
LESC_HELP: Final = "lesc_help"
NCIC: Final = "ncic"

# DEST as written in a message header -> the service pipeline that answers it.
SERVICE_DESTINATIONS: Final[dict[str, str]] = {
    "AX": LESC,
    LESC_ORI: LESC,
    "AXADMHELP": LESC_HELP,
    "NCIC": NCIC,
}
