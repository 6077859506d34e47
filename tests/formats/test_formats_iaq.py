"""IAQ field rules."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from readings import reading

from formats._rules import _NAME, NAME_MAX, parse_name
from formats.errors import ErrorCode, MessageError
from formats.iaq import _OPTIONAL_TAIL, _USUAL_BODY, IAQ, parse_iaq, validate_iaq
from formats.message import parse_fields, parse_input

TODAY = date(2026, 5, 9)
VALID = {
    "PUR": "C",
    "ATN": "DET SMITH",
    "PHN": "916-555-1212",
    "NAM": "GARCIA, JUAN CARLOS",
    "DOB": "010180",
    "SEX": "M",
    "POB": "MX",
    "CUS": "N",
    "OFF": "0399",
}
REQUIRED = list(VALID)
EXPECTED = IAQ(
    pur="C", atn="DET SMITH", phn="916-555-1212", nam="GARCIA, JUAN CARLOS", last="GARCIA",
    first="JUAN", middle="CARLOS", dob=date(1980, 1, 1), sex="M", pob="MX", cus="N", off="0399",
    arn=None, fbi=None, sid=None, oln=None, ols=None, soc=None, mnu=None, ctz=None, oca=None,
    rem=None,
)


def with_fields(**changes: str | None) -> dict[str, str]:
    """The valid IAQ fields with some set (or removed when None)."""
    fields = dict(VALID)
    for tag, value in changes.items():
        if value is None:
            del fields[tag]
        else:
            fields[tag] = value
    return fields


def fault(fields: dict[str, str]) -> MessageError:
    """The MessageError validate_iaq raises."""
    with pytest.raises(MessageError) as info:
        validate_iaq(fields, TODAY)
    return info.value


def test_valid_iaq() -> None:
    result = validate_iaq(VALID, TODAY)
    assert result == EXPECTED
    assert type(result) is IAQ


def test_iaq_from_message_text() -> None:
    text = (
        "IAQ.CA0340000.AX.TXT\n"
        "PUR/F.\nATN/RECORDS DESK.\nPHN/555-0100.\nNAM/O'BRIEN-SMITH, MARY.\nDOB/19900215.\n"
        "SEX/F.\nPOB/IE.\nCUS/Y.\nOFF/5299.\nARN/A12345678.\nFBI/123456AB1.\nSID/CA12345678.\n"
        "OLN/D1234567.\nOLS/CA.\nSOC/123456789.\nMNU/AR-12345678.\nCTZ/IE.\nOCA/2026-000123.\n"
        "REM/PLEASE SEND ENHANCED RESPONSE. THANK YOU."
    )
    result = validate_iaq(parse_fields(parse_input(text).body), TODAY)
    assert result == IAQ(
        pur="F", atn="RECORDS DESK", phn="555-0100", nam="O'BRIEN-SMITH, MARY",
        last="O'BRIEN-SMITH", first="MARY", middle="", dob=date(1990, 2, 15), sex="F", pob="IE",
        cus="Y", off="5299", arn="012345678", fbi="123456AB1", sid="CA12345678", oln="D1234567",
        ols="CA", soc="123456789", mnu="AR-12345678", ctz="IE", oca="2026-000123",
        rem="PLEASE SEND ENHANCED RESPONSE. THANK YOU",
    )


@pytest.mark.parametrize("tag", REQUIRED)
def test_each_required_field(tag: str) -> None:
    exc = fault(with_fields(**{tag: None}))
    code = ErrorCode.DOB if tag == "DOB" else ErrorCode.MISSING
    assert (exc.code, exc.detail, exc.field) == (code, f"FIELD {tag}/ MISSING", tag)


def test_missing_fields_are_reported_in_spec_order() -> None:
    assert fault(with_fields(OFF=None, ATN=None, PHN=None)).field == "ATN"
    assert fault({}).detail == "FIELD PUR/ MISSING"
    assert fault(with_fields(DOB=None, SEX=None)).code == ErrorCode.DOB


def test_missing_field_is_reported_before_a_bad_one() -> None:
    assert fault(with_fields(PUR="X", OFF=None)).detail == "FIELD OFF/ MISSING"


@pytest.mark.parametrize("tag", ["XYZ", "RTY", "NIC", "ENH"])
def test_unknown_tag(tag: str) -> None:
    exc = fault({**VALID, tag: "1"})
    assert (exc.code, exc.detail, exc.field) == (
        ErrorCode.FIELD, f"FIELD {tag}/ NOT ALLOWED IN IAQ", tag
    )


def test_unknown_tag_is_reported_before_a_missing_one() -> None:
    assert fault({"XYZ": "1"}).detail == "FIELD XYZ/ NOT ALLOWED IN IAQ"


@pytest.mark.parametrize(
    ("tag", "value", "code", "detail"),
    [
        ("PUR", "X", ErrorCode.FIELD, "PUR/ MUST BE C OR F"),
        ("PUR", "c", ErrorCode.FIELD, "PUR/ MUST BE C OR F"),
        ("PUR", "CF", ErrorCode.FIELD, "PUR/ MUST BE C OR F"),
        ("ATN", "A" * 31, ErrorCode.ATN, "ATN/ LONGER THAN 30"),
        ("ATN", "", ErrorCode.ATN, "ATN/ EMPTY"),
        ("ATN", "   ", ErrorCode.ATN, "ATN/ EMPTY"),
        ("PHN", "1" * 21, ErrorCode.FIELD, "PHN/ MUST BE UP TO 20 DIGITS AND DASHES"),
        ("PHN", "---", ErrorCode.FIELD, "PHN/ MUST BE UP TO 20 DIGITS AND DASHES"),
        ("PHN", "(916) 555", ErrorCode.FIELD, "PHN/ MUST BE UP TO 20 DIGITS AND DASHES"),
        ("PHN", "", ErrorCode.FIELD, "PHN/ MUST BE UP TO 20 DIGITS AND DASHES"),
        ("NAM", "GARCIA JUAN", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "GARCIA,", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", ", JUAN", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "Garcia, Juan", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "GARCIA, JUAN2", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "GARCIA, JUAN, X", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "GARCIA-, JUAN", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "G\u00c1RCIA, JUAN", ErrorCode.FIELD,
         "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "A" * 25 + ", BCDE", ErrorCode.FIELD, "NAM/ LONGER THAN 30"),
        ("DOB", "1980-01-01", ErrorCode.DOB, "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("DOB", "20270101", ErrorCode.DOB, "DOB/ AFTER TODAY"),
        ("DOB", "023080", ErrorCode.DOB, "DOB/ NOT A REAL DATE"),
        ("SEX", "X", ErrorCode.FIELD, "SEX/ MUST BE M, F OR U"),
        ("SEX", "MALE", ErrorCode.FIELD, "SEX/ MUST BE M, F OR U"),
        ("POB", "MEX", ErrorCode.FIELD, "POB/ MUST BE 2 LETTERS"),
        ("POB", "M1", ErrorCode.FIELD, "POB/ MUST BE 2 LETTERS"),
        ("POB", "mx", ErrorCode.FIELD, "POB/ MUST BE 2 LETTERS"),
        ("CUS", "YES", ErrorCode.FIELD, "CUS/ MUST BE Y OR N"),
        ("OFF", "399", ErrorCode.FIELD, "OFF/ MUST BE 4 DIGITS"),
        ("OFF", "03990", ErrorCode.FIELD, "OFF/ MUST BE 4 DIGITS"),
        ("OFF", "03A9", ErrorCode.FIELD, "OFF/ MUST BE 4 DIGITS"),
        ("OFF", "\u0660\u0663\u0669\u0669", ErrorCode.FIELD, "OFF/ MUST BE 4 DIGITS"),
        ("ARN", "1234567", ErrorCode.FIELD, "ARN/ MUST BE 8 OR 9 DIGITS, OPTIONAL LEADING A"),
        ("ARN", "1234567890", ErrorCode.FIELD,
         "ARN/ MUST BE 8 OR 9 DIGITS, OPTIONAL LEADING A"),
        ("ARN", "AA12345678", ErrorCode.FIELD, "ARN/ MUST BE 8 OR 9 DIGITS, OPTIONAL LEADING A"),
        ("ARN", "a12345678", ErrorCode.FIELD, "ARN/ MUST BE 8 OR 9 DIGITS, OPTIONAL LEADING A"),
        ("FBI", "1234567890", ErrorCode.FIELD, "FBI/ MUST BE UP TO 9 LETTERS OR DIGITS"),
        ("FBI", "12-34", ErrorCode.FIELD, "FBI/ MUST BE UP TO 9 LETTERS OR DIGITS"),
        ("SID", "A" * 11, ErrorCode.FIELD, "SID/ MUST BE UP TO 10 LETTERS OR DIGITS"),
        ("OLN", "A" * 21, ErrorCode.FIELD, "OLN/ MUST BE UP TO 20 LETTERS OR DIGITS"),
        ("OLN", "D 123", ErrorCode.FIELD, "OLN/ MUST BE UP TO 20 LETTERS OR DIGITS"),
        ("OLS", "CAL", ErrorCode.FIELD, "OLS/ MUST BE 2 LETTERS"),
        ("SOC", "12345678", ErrorCode.FIELD, "SOC/ MUST BE 9 DIGITS"),
        ("SOC", "123-45-6789", ErrorCode.FIELD, "SOC/ MUST BE 9 DIGITS"),
        ("MNU", "A" * 16, ErrorCode.FIELD, "MNU/ LONGER THAN 15"),
        ("MNU", "", ErrorCode.FIELD, "MNU/ EMPTY"),
        ("CTZ", "USA", ErrorCode.FIELD, "CTZ/ MUST BE 2 LETTERS"),
        ("OCA", "A" * 21, ErrorCode.FIELD, "OCA/ LONGER THAN 20"),
        ("REM", "A" * 301, ErrorCode.FIELD, "REM/ LONGER THAN 300"),
    ],
)
def test_field_rules(tag: str, value: str, code: ErrorCode, detail: str) -> None:
    exc = fault(with_fields(**{tag: value}))
    assert (exc.code, exc.detail, exc.field) == (code, detail, tag)


@pytest.mark.parametrize(
    ("changes", "attribute", "expected"),
    [
        ({"PUR": "F"}, "pur", "F"),
        ({"ATN": "A" * 30}, "atn", "A" * 30),
        ({"PHN": "1" * 20}, "phn", "1" * 20),
        ({"PHN": "-5"}, "phn", "-5"),
        ({"DOB": "19800101"}, "dob", date(1980, 1, 1)),
        ({"SEX": "U"}, "sex", "U"),
        ({"CUS": "Y"}, "cus", "Y"),
        ({"ARN": "12345678"}, "arn", "012345678"),
        ({"ARN": "123456789"}, "arn", "123456789"),
        ({"ARN": "A123456789"}, "arn", "123456789"),
        ({"FBI": "123456789"}, "fbi", "123456789"),
        ({"SID": "A" * 10}, "sid", "A" * 10),
        ({"OLN": "A1" * 10}, "oln", "A1" * 10),
        ({"OLS": "TX"}, "ols", "TX"),
        ({"SOC": "123456789"}, "soc", "123456789"),
        ({"MNU": "X" * 15}, "mnu", "X" * 15),
        ({"CTZ": "MX"}, "ctz", "MX"),
        ({"OCA": "O" * 20}, "oca", "O" * 20),
        ({"REM": "R" * 300}, "rem", "R" * 300),
    ],
)
def test_accepted_values(changes: dict[str, str], attribute: str, expected: object) -> None:
    assert getattr(validate_iaq({**VALID, **changes}, TODAY), attribute) == expected


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("SMITH, JOHN", ("SMITH", "JOHN", "")),
        ("SMITH,JOHN", ("SMITH", "JOHN", "")),
        ("SMITH , JOHN  PAUL", ("SMITH", "JOHN", "PAUL")),
        ("DE LA CRUZ, MARIA JOSE ANA", ("DE LA CRUZ", "MARIA", "JOSE ANA")),
        ("O'NEIL-DIAZ, D'ARCY", ("O'NEIL-DIAZ", "D'ARCY", "")),
        ("A" * 20 + ", " + "B" * 8, ("A" * 20, "B" * 8, "")),
    ],
)
def test_name_parts(name: str, parts: tuple[str, str, str]) -> None:
    result = validate_iaq({**VALID, "NAM": name}, TODAY)
    assert (result.nam, result.last, result.first, result.middle) == (name, *parts)


usual_names = st.from_regex(r"[A-Z]{1,12}, [A-Z]{1,10}( [A-Z]{1,10})?", fullmatch=True)
other_names = st.from_regex(r"[A-Z]{1,12}(,| ,) ?[A-Z]{1,10}( [A-Z]{0,10}){0,2}", fullmatch=True)


@st.composite
def near_names(draw: st.DrawFn) -> str:
    """A usual name with one character replaced: lower-case, accented, a blank, a mark."""
    name = draw(usual_names)
    at = draw(st.integers(0, len(name) - 1))
    return name[:at] + draw(st.sampled_from("az'É1 -,\t")) + name[at + 1 :]


names = usual_names | other_names | near_names() | st.text(alphabet="ABZaz ,'-\tÉ1", max_size=32)


@settings(max_examples=500)
@given(names)
def test_name_fast_path_agrees_with_the_pattern(name: str) -> None:
    """parse_name splits the usual name without the pattern; both must read it alike."""
    match = _NAME.fullmatch(name) if len(name) <= NAME_MAX else None
    try:
        parts = parse_name(name)
    except MessageError:
        assert match is None
    else:
        assert match is not None
        assert parts == match.groups("")


tags = st.sampled_from([*VALID, "ARN", "FBI", "SID", "OLN", "OLS", "SOC", "MNU", "CTZ", "OCA",
                        "REM", "XYZ"])
values = st.text(max_size=12) | st.from_regex(r"[A-Z0-9, '-]{0,12}", fullmatch=True)


@given(st.dictionaries(tags, values, max_size=6), st.booleans())
def test_validate_iaq_only_raises_message_error(changes: dict[str, str], start_valid: bool) -> None:
    fields = {**VALID, **changes} if start_valid else changes
    try:
        result = validate_iaq(fields, TODAY)
    except MessageError as exc:
        assert exc.code in {ErrorCode.MISSING, ErrorCode.DOB, ErrorCode.ATN, ErrorCode.FIELD}
        assert exc.field is not None
    else:
        assert result.dob <= TODAY


def read_both_ways(body: str) -> tuple[object, object]:
    """What parse_iaq and validate_iaq(parse_fields()) make of a body: results or faults."""

    def general(text: str) -> object:
        fields = parse_fields(text)
        return fields, validate_iaq(fields, TODAY)

    return reading(lambda text: parse_iaq(text, TODAY), body), reading(general, body)


USUAL_BODY = (
    "PUR/C.\nATN/DET SMITH.\nPHN/916-555-0100.\nNAM/GARCIA, MARIA F.\nDOB/19850314.\n"
    "SEX/F.\nPOB/MX.\nCUS/N.\nOFF/0399."
)


@pytest.mark.parametrize(
    "body",
    [
        USUAL_BODY,
        USUAL_BODY.replace("\n", "\r\n"),
        USUAL_BODY.replace("\n", ""),
        USUAL_BODY.replace("GARCIA, MARIA F", "O, J").replace("DET SMITH", "X") + "\n",
        USUAL_BODY + "\nARN/A12345678.\nFBI/611628VW3.\nSID/CA12345678.\nOCA/CA1234567.",
        USUAL_BODY + "\nFBI/1.\nSID/2.\nBOR/CA0000000.\nREM/PLEASE SEND. ENHANCED/ RESPONSE.\n",
        USUAL_BODY + "ARN/123456789.OLN/D1234.OLS/CA.SOC/123456789.MNU/AR-1 2.CTZ/MX.REM/.X",
    ],
)
def test_usual_body_is_read_by_the_fast_path(body: str) -> None:
    usual = _USUAL_BODY.match(body)
    assert usual is not None
    assert usual.end() == len(body) or _OPTIONAL_TAIL.fullmatch(body, usual.end()) is not None
    fast, general = read_both_ways(body)
    assert fast == general
    assert isinstance(fast, tuple) and isinstance(fast[1], IAQ)


# Each field of the usual body: a value within its rule, and values near its rule's edges.
valid_values = {
    "PUR": st.sampled_from(["C", "F"]),
    "ATN": st.from_regex(r"[A-Z0-9,'-](?:[A-Z0-9 ,'-]{0,28}[A-Z0-9,'-])?", fullmatch=True),
    "PHN": st.from_regex(r"-{0,2}[0-9][0-9-]{0,17}", fullmatch=True),
    "NAM": usual_names,
    "DOB": st.dates(date(1900, 1, 1), TODAY).map(lambda day: day.strftime("%Y%m%d"))
    | st.dates(date(1930, 1, 1), TODAY).map(lambda day: day.strftime("%m%d%y")),
    "SEX": st.sampled_from(["M", "F", "U"]),
    "POB": st.from_regex(r"[A-Z]{2}", fullmatch=True),
    "CUS": st.sampled_from(["Y", "N"]),
    "OFF": st.from_regex(r"[0-9]{4}", fullmatch=True),
}
near_values = {
    "PUR": st.sampled_from(["B", "CF", " C", "c", ""]),
    "ATN": st.from_regex(r"[A-Z .,/'\t-]{0,32}", fullmatch=True)
    | st.text(max_size=4)
    | st.sampled_from(["A" * 30, "A" * 31, "DET SMITH ", " DET", "DET\tSMITH", "DET\x0b"]),
    "PHN": st.from_regex(r"[0-9-]{0,22}", fullmatch=True)
    | st.sampled_from(["---", "1 2", "1" * 20, "1" * 21, "-" * 19 + "1", "-" * 20 + "1"]),
    # 30 and 31 characters: NAM/'s longest and one more.
    "NAM": names | st.sampled_from([f"{'A' * 26}, AB", f"{'A' * 26}, AB C"]),
    "DOB": st.from_regex(r"[0-9]{6,9}", fullmatch=True)
    | st.sampled_from(["20260510", "20260230", "19000229", "20000229", "1985 314"]),
    "SEX": st.sampled_from(["X", "m", "MF"]),
    "POB": st.sampled_from(["M", "MEX", "mx", "M1"]),
    "CUS": st.sampled_from(["YN", "n", "0"]),
    "OFF": st.sampled_from(["039", "03999", "03A9", "٠٣٩٩"]),
}
# The optional fields, in SPEC.md's order: a value within its rule, and values near its edges.
text_values = r"[A-Z0-9,'-](?:[A-Z0-9 ,'-]{0,%d}[A-Z0-9,'-])?"
valid_optional = {
    "ARN": st.from_regex(r"A?[0-9]{8,9}", fullmatch=True),
    "FBI": st.from_regex(r"[A-Z0-9]{1,9}", fullmatch=True),
    "SID": st.from_regex(r"[A-Z0-9]{1,10}", fullmatch=True),
    "BOR": st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}", fullmatch=True),
    "OLN": st.from_regex(r"[A-Z0-9]{1,20}", fullmatch=True),
    "OLS": st.from_regex(r"[A-Z]{2}", fullmatch=True),
    "SOC": st.from_regex(r"[0-9]{9}", fullmatch=True),
    "MNU": st.from_regex(text_values % 13, fullmatch=True),
    "CTZ": st.from_regex(r"[A-Z]{2}", fullmatch=True),
    "OCA": st.from_regex(text_values % 18, fullmatch=True),
    "REM": st.from_regex(r"[A-Z0-9 .,/'-]{1,40}", fullmatch=True),
}
near_optional = {
    "ARN": st.sampled_from(["A1234567", "A1234567890", "B12345678", "a123456789", "A 1234567"]),
    "FBI": st.sampled_from(["A" * 10, "ab1", "12-3", ""]),
    "SID": st.sampled_from(["1" * 11, "x", "1 2"]),
    "BOR": st.sampled_from(["C1A000000", "CA00000", "CA00000000", "ca0000000"]),
    "OLN": st.sampled_from(["A" * 21, "A-1", "a"]),
    "OLS": st.sampled_from(["C", "CAL", "c1"]),
    "SOC": st.sampled_from(["12345678", "1234567890", "12345678A", "\u0660" * 9]),
    "MNU": st.sampled_from(["A" * 15, "A" * 16, " X", "X ", "\x0b", "É", "X\tY"]),
    "CTZ": st.sampled_from(["M", "MEX", "m1"]),
    "OCA": st.sampled_from(["A" * 20, "A" * 21, "X\x0bY", "\u00a0"]),
    "REM": st.sampled_from(["", " ", ".", ". .", "A" * 300, "A" * 301, "X.\n.", "\x0b",
                            "REM/X", "\u00a0."]),
}
separators = st.sampled_from(
    [".\n", ".", ".\r\n", ". ", ".\n\n", ".\r", ".\t", " .\n", "\n", ".\x0b", ".\x1c"]
)


@st.composite
def near_usual_bodies(draw: st.DrawFn) -> str:
    """A body in the usual order, then some of the optional fields in theirs, its values
    within their rules but at most one, most separators the usual ones; at times a field left
    out, repeated, swapped with the next or followed by another."""
    near = draw(st.sampled_from([None, *near_values, *near_optional]))
    pairs = [
        (tag, draw(near_values[tag] if tag == near else valid))
        for tag, valid in valid_values.items()
    ]
    pairs += [
        (tag, draw(near_optional[tag] if tag == near else valid))
        for tag, valid in valid_optional.items()
        if tag == near or draw(st.integers(0, 3)) == 0
    ]
    change = draw(st.sampled_from(["none"] * 6 + ["drop", "repeat", "swap", "extra"]))
    at = draw(st.integers(0, len(pairs) - 2))
    if change == "drop":
        del pairs[at]
    elif change == "repeat":
        pairs.insert(at, pairs[at])
    elif change == "swap":
        pairs[at], pairs[at + 1] = pairs[at + 1], pairs[at]
    elif change == "extra":
        pairs.insert(at, (draw(st.sampled_from(["ARN", "REM", "XYZ"])), "A123456789"))
    body = ""
    for tag, value in pairs:
        separator = ".\n" if draw(st.integers(0, 7)) > 0 else draw(separators)
        body += f"{tag}/{value}{separator}"
    return body + draw(st.sampled_from(["", " ", "\n", "\r\n \t"]))


@st.composite
def optional_field_bodies(draw: st.DrawFn) -> str:
    """A valid usual body, then optional fields in SPEC.md's order, each value within its rule
    or near it, now and then a field out of order."""
    body = "".join(f"{tag}/{draw(valid)}.\n" for tag, valid in valid_values.items())
    pairs = [
        (tag, draw(near_optional[tag] | valid_optional[tag] | valid_optional[tag]))
        for tag in draw(st.sets(st.sampled_from(list(valid_optional)), min_size=1))
    ]
    pairs.sort(key=lambda pair: list(valid_optional).index(pair[0]))
    if len(pairs) > 1 and draw(st.integers(0, 9)) == 0:
        pairs.reverse()
    return body + "".join(
        f"{tag}/{value}" + (".\n" if draw(st.integers(0, 3)) else draw(separators))
        for tag, value in pairs
    )


@settings(max_examples=1500)
@given(near_usual_bodies() | optional_field_bodies() | st.text(max_size=200))
def test_parse_iaq_agrees_with_the_general_parsers(body: str) -> None:
    """The one match reads every body it takes as the field split and the rules do."""
    fast, general = read_both_ways(body)
    assert fast == general
