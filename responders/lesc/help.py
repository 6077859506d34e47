"""``AXADMHELP``: the LESC help file, sent to whoever asks with an AM.

The smallest service there is: one bare pipeline (entry point group ``iaqgw.pipelines``) that
brings its own destination and keeps no state (docs/plugins.md).
"""

from responders.base import Exchange, Pipeline
from responders.lesc import LESC_HELP, LESC_ORI

HELP_TEXT = """LESC HELP FILE - IMMIGRATION ALIEN QUERY (IAQ)
SEND IAQ TO AX (OR VTINS07S0):
IAQ.<YOUR ORI>.AX.TXT
PUR/C.ATN/<ATTENTION>.PHN/<PHONE>.NAM/<LAST, FIRST MIDDLE>.DOB/<MMDDYY OR CCYYMMDD>.
SEX/<M F U>.POB/<NCIC CODE>.CUS/<Y OR N>.OFF/<NCIC OFFENSE CODE, 0399 WHEN NONE>.
OPTIONAL: ARN/ FBI/ SID/ OLN/ OLS/ SOC/ MNU/ CTZ/ OCA/ REM/ (REM/ LAST)
PUR/C CRIMINAL JUSTICE, PUR/F FIREARMS (BRADY)
FOR AN ENHANCED RESPONSE BY A LESC TECHNICIAN, PUT ENHANCED IN REM/
HIT CONFIRMATION: SEND YQ TO VTINS07S0 WITH RTY/WP.RNO/1.PRI/U OR R.OCA/.NIC/.NAM/.DOB/
LESC ANSWERS 24 HOURS A DAY, 7 DAYS A WEEK"""


def send_help(exchange: Exchange) -> None:
    """Answer with the help file."""
    exchange.reply("AM", LESC_ORI, HELP_TEXT)


pipeline = Pipeline(
    service=LESC_HELP,
    accepts=frozenset({"AM"}),
    steps=(send_help,),
    destinations=frozenset({"AXADMHELP"}),
)
