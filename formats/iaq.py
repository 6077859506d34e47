"""IAQ field rules (SPEC.md §3)."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial

from formats._rules import (
    SEX_CODES,
    TWO_LETTERS,
    check_choice,
    check_pattern,
    check_phone,
    check_present,
    check_tags,
    check_text,
    field_error,
)
from formats.dates import parse_dob
from formats.errors import ErrorCode
from formats.message import parse_fields, remark_value
from formats.person import Person, parse_person

_REQUIRED = ("PUR", "ATN", "PHN", "NAM", "DOB", "SEX", "POB", "CUS", "OFF")
_OPTIONAL = ("ARN", "FBI", "SID", "BOR", "OLN", "OLS", "SOC", "MNU", "CTZ", "OCA", "REM")
_REQUIRED_SET = frozenset(_REQUIRED)
_ALLOWED = frozenset(_REQUIRED + _OPTIONAL)
_PURPOSES = frozenset({"C", "F"})
_CUSTODY = frozenset({"Y", "N"})
_ARN = re.compile("A?([0-9]{8,9})")
_FBI = re.compile("[A-Z0-9]{1,9}")
_SID = re.compile("[A-Z0-9]{1,10}")
_OLN = re.compile("[A-Z0-9]{1,20}")
_SOC = re.compile("[0-9]{9}")
_ORI = re.compile("[A-Z]{2}[A-Z0-9]{7}")
# The longest free-text values, which the fast path's expressions and the rules both hold.
_ATN_LONGEST = 30
_MNU_LONGEST = 15
_OCA_LONGEST = 20
_REM_LONGEST = 300
# The usual IAQ body in two matches: the required fields in SPEC.md's order, then, when
# anything follows, optional fields in SPEC.md's order (one expression for both made the
# usual body's parse a fifth dearer). White space between fields as parse_fields skips it, each
# value within its rule (ATN, MNU and OCA in printable ASCII, NAM as LAST, FIRST [MIDDLE] in
# capitals, DOB as CCYYMMDD or MMDDYY); REM/ takes the rest, as parse_fields reads it.
# parse_fields and validate_iaq take any other body. Runs are possessive (*+, {}+), as in
# formats.message._HEADER: nothing after one could use a character it took.
_NEXT = r"\.[ \t\r\n]*+"


def _text(longest: int) -> str:
    # Free text not blank at either end (parse_fields would strip it), without . or /.
    return rf"[!-\-0-~][ -\-0-~]{{0,{longest - 1}}}+(?<! )"


_USUAL_BODY = re.compile(
    rf"PUR/([CF]){_NEXT}"
    rf"ATN/({_text(_ATN_LONGEST)}){_NEXT}"
    rf"PHN/(?=-*[0-9])([0-9-]{{1,20}}+){_NEXT}"
    rf"NAM/(?=[A-Z, ]{{1,30}}\.)(([A-Z]+), ([A-Z]+)(?: ([A-Z]+))?){_NEXT}"
    rf"DOB/([0-9]{{8}}|[0-9]{{6}}){_NEXT}"
    rf"SEX/([MFU]){_NEXT}"
    rf"POB/([A-Z]{{2}}){_NEXT}"
    rf"CUS/([YN]){_NEXT}"
    rf"OFF/([0-9]{{4}}){_NEXT}"
)
# The optional fields' rules are validate_iaq's own patterns (OLS/ and CTZ/, a set there,
# are its two letters).
_OPTIONAL_TAIL = re.compile(
    rf"(?:ARN/({_ARN.pattern}){_NEXT})?"
    rf"(?:FBI/({_FBI.pattern}){_NEXT})?"
    rf"(?:SID/({_SID.pattern}){_NEXT})?"
    rf"(?:BOR/({_ORI.pattern}){_NEXT})?"
    rf"(?:OLN/({_OLN.pattern}){_NEXT})?"
    rf"(?:OLS/([A-Z]{{2}}){_NEXT})?"
    rf"(?:SOC/({_SOC.pattern}){_NEXT})?"
    rf"(?:MNU/({_text(_MNU_LONGEST)}){_NEXT})?"
    rf"(?:CTZ/([A-Z]{{2}}){_NEXT})?"
    rf"(?:OCA/({_text(_OCA_LONGEST)}){_NEXT})?"
    r"(?:REM/(.*))?",
    re.DOTALL,
)
# What a biometric IAQ (from the FBI CJIS Division) must carry beyond an IAQ's fields.
BIOMETRIC_REQUIRED = ("FBI", "SID", "BOR")
# The optional fields but ARN (which is normalised), each with its rule.
_OPTIONAL_CHECKS: tuple[tuple[str, Callable[[str, str], object]], ...] = (
    ("FBI", partial(check_pattern, pattern=_FBI, rule="MUST BE UP TO 9 LETTERS OR DIGITS")),
    ("SID", partial(check_pattern, pattern=_SID, rule="MUST BE UP TO 10 LETTERS OR DIGITS")),
    ("BOR", partial(check_pattern, pattern=_ORI, rule="MUST BE A 9-CHARACTER ORI")),
    ("OLN", partial(check_pattern, pattern=_OLN, rule="MUST BE UP TO 20 LETTERS OR DIGITS")),
    ("OLS", partial(check_choice, choices=TWO_LETTERS, rule="MUST BE 2 LETTERS")),
    ("SOC", partial(check_pattern, pattern=_SOC, rule="MUST BE 9 DIGITS")),
    ("MNU", partial(check_text, maximum=_MNU_LONGEST)),
    ("CTZ", partial(check_choice, choices=TWO_LETTERS, rule="MUST BE 2 LETTERS")),
    ("OCA", partial(check_text, maximum=_OCA_LONGEST)),
    ("REM", partial(check_text, maximum=_REM_LONGEST)),
)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which costs
# 2 µs per IAQ on the hot path; nothing mutates these after parsing.
@dataclass(slots=True)
class IAQ(Person):
    """A validated Immigration Alien Query."""

    # SEX is required in an IAQ.
    sex: str
    pur: str
    atn: str
    phn: str
    pob: str
    cus: str
    off: str
    arn: str | None  # normalised to 9 digits, no leading A
    fbi: str | None
    sid: str | None
    oln: str | None
    ols: str | None
    soc: str | None
    mnu: str | None
    ctz: str | None
    oca: str | None
    rem: str | None
    # The booking agency's ORI of a biometric IAQ; last, with a default, so the usual query
    # is built without it.
    bor: str | None = None


def validate_iaq(fields: Mapping[str, str], today: date) -> IAQ:
    """Apply the IAQ rules; raises MessageError (.14. missing, .05. DOB, .16. ATN, .22. other)."""
    keys = fields.keys()
    # The usual query carries just the required fields: one comparison (0.5 µs) stands for
    # the two subset tests (1 µs).
    usual = keys == _REQUIRED_SET
    if not usual:
        if not keys <= _ALLOWED:
            check_tags(fields, _ALLOWED, "IAQ")
        if not keys >= _REQUIRED_SET:
            check_present(fields, _REQUIRED)
    # One-code fields are tested inline: on this hot path a helper call costs more than the test.
    pur = fields["PUR"]
    if pur not in _PURPOSES:
        raise field_error("PUR", "MUST BE C OR F")
    atn = check_text(fields["ATN"], "ATN", _ATN_LONGEST, ErrorCode.ATN)
    phn = check_phone(fields["PHN"], "PHN")
    nam, last, first, middle, dob = parse_person(fields, today)
    sex = fields["SEX"]
    if sex not in SEX_CODES:
        raise field_error("SEX", "MUST BE M, F OR U")
    pob = fields["POB"]
    if pob not in TWO_LETTERS:
        raise field_error("POB", "MUST BE 2 LETTERS")
    cus = fields["CUS"]
    if cus not in _CUSTODY:
        raise field_error("CUS", "MUST BE Y OR N")
    off = fields["OFF"]
    if not (len(off) == 4 and off.isascii() and off.isdigit()):
        raise field_error("OFF", "MUST BE 4 DIGITS")
    if usual:
        # No optional field: skip their ten look-ups.
        return IAQ(
            nam, last, first, middle, dob, sex, pur, atn, phn, pob, cus, off,
            None, None, None, None, None, None, None, None, None, None,
        )
    arn = fields.get("ARN")
    if arn is not None:
        arn_match = _ARN.fullmatch(arn)
        if arn_match is None:
            raise field_error("ARN", "MUST BE 8 OR 9 DIGITS, OPTIONAL LEADING A")
        arn = arn_match.group(1).zfill(9)
    for tag, check in _OPTIONAL_CHECKS:
        value = fields.get(tag)
        if value is not None:
            check(value, tag)
    get = fields.get
    return IAQ(
        nam, last, first, middle, dob, sex, pur, atn, phn, pob, cus, off,
        arn, get("FBI"), get("SID"), get("OLN"), get("OLS"), get("SOC"), get("MNU"),
        get("CTZ"), get("OCA"), get("REM"), get("BOR"),
    )


def parse_iaq(body: str, today: date) -> tuple[dict[str, str], IAQ]:
    """The fields of an IAQ's body and the IAQ they make: ``validate_iaq(parse_fields(body))``.

    Raises the MessageError the two would raise. A body in SPEC.md's order is read by
    _USUAL_BODY and _OPTIONAL_TAIL, for a third of their cost; tests hold the two ways to the
    same results.
    """
    match = _USUAL_BODY.match(body)
    tail = None
    if match is not None and match.end() != len(body):
        tail = _OPTIONAL_TAIL.fullmatch(body, match.end())
        if tail is None:
            match = None
    if match is None:
        fields = parse_fields(body)
        return fields, validate_iaq(fields, today)
    pur, atn, phn, nam, last, first, middle, dob, sex, pob, cus, off = match.groups("")
    fields = {
        "PUR": pur, "ATN": atn, "PHN": phn, "NAM": nam, "DOB": dob,
        "SEX": sex, "POB": pob, "CUS": cus, "OFF": off,
    }
    # Every field before DOB/ and after it is valid, REM/'s length and blanks aside, which
    # the rules test last: a DOB fault is the query's first.
    if tail is None:
        return fields, IAQ(
            nam, last, first, middle, parse_dob(dob, today), sex, pur, atn, phn, pob, cus, off,
            None, None, None, None, None, None, None, None, None, None,
        )
    arn_text, arn, fbi, sid, bor, oln, ols, soc, mnu, ctz, oca, rem = tail.groups()
    if rem is not None:
        # An empty REM/ is a fault of the field split, ahead of every rule's.
        rem = remark_value(rem)
    for tag, value in zip(
        _OPTIONAL, (arn_text, fbi, sid, bor, oln, ols, soc, mnu, ctz, oca, rem), strict=True
    ):
        if value is not None:
            fields[tag] = value
    iaq = IAQ(
        nam, last, first, middle, parse_dob(dob, today), sex, pur, atn, phn, pob, cus, off,
        None if arn is None else arn.zfill(9), fbi, sid, oln, ols, soc, mnu, ctz, oca, rem, bor,
    )
    if rem is not None:
        check_text(rem, "REM", _REM_LONGEST)
    return fields, iaq


def check_biometric(fields: Mapping[str, str], iaq: IAQ) -> str:
    """The booking ORI of a biometric IAQ; raises MessageError (.14. missing, .22. PUR/F).

    A biometric IAQ follows a fingerprint match at booking: it carries the FBI and SID
    numbers the match found and the booking agency's ORI, and its purpose is criminal justice.
    """
    check_present(fields, BIOMETRIC_REQUIRED)
    if iaq.pur != "C":
        raise field_error("PUR", "MUST BE C IN A BIOMETRIC IAQ")
    return fields["BOR"]
