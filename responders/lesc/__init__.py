"""The emulated ICE LESC and NCIC IVF: one plugin distribution, two services (docs/lesc.md).

The services are declared in service.py; these are the names and ORIs its modules share.
"""

from typing import Final

LESC: Final = "lesc"
LESC_HELP: Final = "lesc_help"
NCIC: Final = "ncic"
# The ORIs the LESC and NCIC answer as; only the gateway sends as them.
LESC_ORI: Final = "VTINS07S0"
NCIC_ORI: Final = "DCFBIWA00"
