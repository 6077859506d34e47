"""The emulated ICE LESC and NCIC IVF: one plugin distribution, two services (docs/lesc.md).

The services are declared in service.py; these are the names and ORIs its modules share.
"""

from typing import Final

LESC: Final = "lesc"
LESC_HELP: Final = "lesc_help"
NCIC: Final = "ncic"
# The ORIs the LESC and NCIC answer as; only the gateway sends as them. The LESC is reached
# at both of its ORIs (VTINS07S0 in its own material, VTICE0900 in Nlets' list) and sends as
# the one ``--lesc-ori`` chooses, VTINS07S0 unless told (SPEC.md §11).
LESC_ORI: Final = "VTINS07S0"
LESC_ORIS: Final = frozenset({LESC_ORI, "VTICE0900"})
NCIC_ORI: Final = "DCFBIWA00"
