"""Input header and TAG/value. fields."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from readings import reading

from formats.errors import ErrorCode, MessageError
from formats.message import (
    InputMessage,
    _parse_fields_general,
    _parse_input_general,
    format_fields,
    format_input,
    parse_fields,
    parse_input,
)

IAQ_TEXT = (
    "IAQ.CA0340000.AX.*CA12345.TXT\n"
    "PUR/C.ATN/DET SMITH.PHN/916-555-1212.NAM/GARCIA, JUAN.DOB/19800101.SEX/M.POB/MX."
    "CUS/N.OFF/0399."
)


def error(function: object, *args: object) -> MessageError:
    """The MessageError a call raises."""
    assert callable(function)
    with pytest.raises(MessageError) as info:
        function(*args)
    return info.value


# header


def test_parse_iaq_header() -> None:
    msg = parse_input(IAQ_TEXT)
    assert msg == InputMessage(
        mke="IAQ",
        sender="CA0340000",
        dests=("AX",),
        control="CA12345",
        body=IAQ_TEXT.split("\n", 1)[1],
        text=IAQ_TEXT,
    )


@pytest.mark.parametrize(
    ("text", "dests", "control", "body"),
    [
        ("AM.CA0000000.TX.TXT HELLO THERE", ("TX",), None, "HELLO THERE"),
        ("AM.CA0000000.TX.TXT", ("TX",), None, ""),
        ("AM.CA0000000.TX\nTXT\nhello. lower case body.\n\n", ("TX",), None,
         "hello. lower case body."),
        ("AM.CA0000000.TX.\r\nTXT\r\n  BODY  \r\n", ("TX",), None, "BODY"),
        ("  AM . CA0000000 .\nTX . NY\n.*X-1 . TXT BODY", ("TX", "NY"), "X-1", "BODY"),
        ("QW.CA0000000.NCIC.TXT NAM/DOE, JOHN.DOB/010180.", ("NCIC",), None,
         "NAM/DOE, JOHN.DOB/010180."),
        ("IAQ.CA0000000.VTINS07S0.TXT", ("VTINS07S0",), None, ""),
        ("AM.CA0000000.AXADMHELP.TXT", ("AXADMHELP",), None, ""),
        ("AM.CA0000000.TX.NY.FL.GA.NV.*ABCDEFGHIJ.TXT", ("TX", "NY", "FL", "GA", "NV"),
         "ABCDEFGHIJ", ""),
        ("YQ.CA0000000.VTINS07S0.AX.TX.TXT", ("VTINS07S0", "AX", "TX"), None, ""),
        ("AM.CA0000000.TX.TXT.REST", ("TX",), None, ".REST"),
        ("AM.CA0000000.TX TXT", ("TX",), None, ""),
    ],
)
def test_header_layouts(
    text: str, dests: tuple[str, ...], control: str | None, body: str
) -> None:
    msg = parse_input(text)
    assert (msg.dests, msg.control, msg.body, msg.text) == (dests, control, body, text)
    assert _parse_input_general(text) == msg


@pytest.mark.parametrize(
    ("text", "code", "detail"),
    [
        ("", ErrorCode.FORMAT, "NO VALID HEADER"),
        ("HELLO WORLD", ErrorCode.FORMAT, "NO VALID HEADER"),
        ("IAQX.CA0000000.AX.TXT", ErrorCode.FORMAT, "NO VALID HEADER"),
        ("I.CA0000000.AX.TXT", ErrorCode.FORMAT, "NO VALID HEADER"),
        ("iaq.CA0000000.AX.TXT", ErrorCode.FORMAT, "NO VALID HEADER"),
        ("IA1.CA0000000.AX.TXT", ErrorCode.FORMAT, "NO VALID HEADER"),
        ("AM CA0000000.TX.TXT", ErrorCode.FORMAT, "NO VALID HEADER"),
        ("AM.CA0000000.TX", ErrorCode.TXT_NOT_FOUND, "TXT MISSING AFTER HEADER"),
        ("AM.CA0000000.TX.", ErrorCode.TXT_NOT_FOUND, "TXT MISSING AFTER HEADER"),
        ("AM.CA0000000.TX\nHELLO", ErrorCode.TXT_NOT_FOUND, "TXT MISSING AFTER HEADER"),
        ("IAQ.CA0000000.AX.PUR/C.REM/X.TXT", ErrorCode.TXT_NOT_FOUND,
         "TXT MISSING AFTER HEADER"),
        ("AM.CA0000000.TX.txt", ErrorCode.TXT_NOT_FOUND, "TXT MISSING AFTER HEADER"),
        ("AM.CA0000000.TX.TXTX", ErrorCode.TXT_NOT_FOUND, "TXT MISSING AFTER HEADER"),
        ("AM.TXT", ErrorCode.HEADER, "SENDER ORI MISSING"),
        ("AM.CA00000.TX.TXT", ErrorCode.HEADER, "SENDER ORI MUST BE 9 LETTERS OR DIGITS"),
        ("AM.C10000000.TX.TXT", ErrorCode.HEADER, "SENDER ORI MUST BE 9 LETTERS OR DIGITS"),
        ("AM.ca0000000.TX.TXT", ErrorCode.HEADER, "SENDER ORI MUST BE 9 LETTERS OR DIGITS"),
        ("AM.CA00000000.TX.TXT", ErrorCode.HEADER, "SENDER ORI MUST BE 9 LETTERS OR DIGITS"),
        ("AM.CA0000000.TX.*ABCDEFGHIJK.TXT", ErrorCode.HEADER, "CONTROL FIELD LONGER THAN 10"),
        ("AM.CA0000000.TX.*.TXT", ErrorCode.HEADER,
         "CONTROL FIELD MUST BE LETTERS, DIGITS OR -"),
        ("AM.CA0000000.TX.*ab.TXT", ErrorCode.HEADER,
         "CONTROL FIELD MUST BE LETTERS, DIGITS OR -"),
        ("AM.CA0000000.*X.TX.TXT", ErrorCode.HEADER, "CONTROL FIELD MUST STAND LAST BEFORE TXT"),
        ("AM.CA0000000.TXT", ErrorCode.DESTINATION, "NO DESTINATION"),
        ("AM.CA0000000.*X.TXT", ErrorCode.DESTINATION, "NO DESTINATION"),
        ("AM.CA0000000.TX.NY.FL.GA.NV.WA.TXT", ErrorCode.DESTINATION,
         "MORE THAN 5 DESTINATIONS"),
        ("YQ.CA0000000.AX.TX.NY.FL.TXT", ErrorCode.DESTINATION, "MORE THAN 3 DESTINATIONS"),
        ("AM.CA0000000.T.TXT", ErrorCode.DESTINATION, "DESTINATION 1 INVALID"),
        ("AM.CA0000000.TX.tx.TXT", ErrorCode.DESTINATION, "DESTINATION 2 INVALID"),
        ("AM.CA0000000.TX.CA00000000.TXT", ErrorCode.DESTINATION, "DESTINATION 2 INVALID"),
        ("AM.CA0000000.TX..TXT", ErrorCode.DESTINATION, "DESTINATION 2 INVALID"),
        ("AM.CA0000000.T-X.TXT", ErrorCode.DESTINATION, "DESTINATION 1 INVALID"),
    ],
)
def test_header_faults(text: str, code: ErrorCode, detail: str) -> None:
    exc = error(parse_input, text)
    assert (exc.code, exc.detail) == (code, detail)


def test_header_fault_names_the_field() -> None:
    assert error(parse_input, "AM.CA00.TX.TXT").field == "ORI"
    assert error(parse_input, "AM.CA0000000.T.TXT").field == "DEST"
    assert error(parse_input, "AM.CA0000000.TX.*?.TXT").field == "CONTROL"
    assert error(parse_input, "AM.CA0000000.TX").field == "TXT"


def test_format_input() -> None:
    assert format_input("IAQ", "CA0000000", ["AX"], "PUR/C.", "C1") == (
        "IAQ.CA0000000.AX.*C1.TXT\nPUR/C."
    )
    assert format_input("AM", "CA0000000", ("TX", "NY"), "HI") == "AM.CA0000000.TX.NY.TXT\nHI"


mkes = st.from_regex(r"[A-Z]{2,3}", fullmatch=True)
oris = st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}", fullmatch=True)
dest_names = st.from_regex(r"[A-Z0-9]{2,9}", fullmatch=True).filter(lambda d: d != "TXT")
controls = st.none() | st.from_regex(r"[A-Z0-9-]{1,10}", fullmatch=True)
bodies = st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)] + ["\n", "\r"], max_size=80).map(
    lambda text: text.strip(" \t\r\n")
)
blanks = st.sampled_from(["", " ", "\n", "\r\n", "  \n "])


@given(mkes, oris, st.lists(dest_names, min_size=1, max_size=5), controls, bodies)
def test_input_round_trip(
    mke: str, sender: str, dests: list[str], control: str | None, body: str
) -> None:
    dests = dests[:3] if mke == "YQ" else dests
    text = format_input(mke, sender, dests, body, control)
    assert parse_input(text) == InputMessage(mke, sender, tuple(dests), control, body, text)


@given(mkes, oris, st.lists(dest_names, min_size=1, max_size=5), controls, bodies, st.data())
def test_blanks_between_header_items_are_ignored(
    mke: str, sender: str, dests: list[str], control: str | None, body: str, data: st.DataObject
) -> None:
    dests = dests[:3] if mke == "YQ" else dests
    items = [mke, sender, *dests, *([f"*{control}"] if control else [])]
    text = data.draw(blanks) + items[0]
    for item in items[1:]:
        text += data.draw(blanks) + "." + data.draw(blanks) + item
    separator = data.draw(st.sampled_from([".", " .", ". ", ".\n", "\n", " ", "\r\n."]))
    text += separator + "TXT" + data.draw(st.sampled_from(["\n", " ", "\r\n"])) + body
    msg = parse_input(text)
    assert (msg.mke, msg.sender, msg.dests, msg.control, msg.body) == (
        mke, sender, tuple(dests), control, body,
    )


header_items = st.sampled_from(
    ["IAQ", "AM", "YQ", "CA0000000", "ca0000000", "AX", "TX", "TXT", "*C1", "*", "*ABCDEFGHIJK",
     "NCIC", "PUR/C", "X", "", "VTINS07S0", "TXTX", "1234567890"]
)
separators = st.sampled_from([".", ". ", " .", ".\n", "\n", " ", "..", ""])


@given(st.lists(st.tuples(header_items, separators), max_size=9), bodies)
def test_fast_and_general_header_parsers_agree(
    parts: list[tuple[str, str]], body: str
) -> None:
    text = "".join(item + sep for item, sep in parts) + body
    assert reading(parse_input, text) == reading(_parse_input_general, text)


@given(st.text(max_size=120) | st.text(alphabet="IAQCA0.TX *TXT\n/", max_size=40))
def test_parse_input_only_raises_message_error(text: str) -> None:
    try:
        msg = parse_input(text)
    except MessageError as exc:
        assert exc.code in {
            ErrorCode.FORMAT, ErrorCode.HEADER, ErrorCode.TXT_NOT_FOUND, ErrorCode.DESTINATION
        }
    else:
        assert msg.text == text


# fields


def test_parse_fields_in_order() -> None:
    fields = parse_fields(parse_input(IAQ_TEXT).body)
    assert list(fields.items()) == [
        ("PUR", "C"),
        ("ATN", "DET SMITH"),
        ("PHN", "916-555-1212"),
        ("NAM", "GARCIA, JUAN"),
        ("DOB", "19800101"),
        ("SEX", "M"),
        ("POB", "MX"),
        ("CUS", "N"),
        ("OFF", "0399"),
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", {}),
        ("   \n ", {}),
        ("PUR/C.", {"PUR": "C"}),
        ("PUR/C", {"PUR": "C"}),
        ("PUR/C.ATN/X", {"PUR": "C", "ATN": "X"}),
        ("PUR/C.ATN/X  \r\n", {"PUR": "C", "ATN": "X"}),
        ("PUR/C.\nATN/X.\r\nPHN/1.", {"PUR": "C", "ATN": "X", "PHN": "1"}),
        ("PUR/ C .  \n\n  ATN/\tX Y\t.", {"PUR": "C", "ATN": "X Y"}),
        ("OCA/2026/17.", {"OCA": "2026/17"}),
        ("A1B/x y z.", {"A1B": "x y z"}),
        ("REM/ANYTHING. WITH. PERIODS.", {"REM": "ANYTHING. WITH. PERIODS"}),
        ("REM/NO PERIOD", {"REM": "NO PERIOD"}),
        ("REM/TWO..", {"REM": "TWO."}),
        ("REM/LINE ONE.\nLINE TWO.\n", {"REM": "LINE ONE.\nLINE TWO"}),
        ("NAM/A, B.REM/SEE NAM/X. AND REM/Y.", {"NAM": "A, B", "REM": "SEE NAM/X. AND REM/Y"}),
        ("ATN/XREM/Y.", {"ATN": "XREM/Y"}),
        ("ATN/X.\nREM/ Y .", {"ATN": "X", "REM": "Y"}),
    ],
)
def test_field_layouts(body: str, expected: dict[str, str]) -> None:
    assert parse_fields(body) == expected
    assert list(parse_fields(body)) == list(expected)
    assert _parse_fields_general(body) == expected


@pytest.mark.parametrize(
    ("body", "detail", "field"),
    [
        ("PUR/C.PUR/F.", "TAG PUR/ REPEATED", "PUR"),
        ("PUR/C.ATN/X.PUR/F", "TAG PUR/ REPEATED", "PUR"),
        ("PUR/.", "FIELD PUR/ EMPTY", "PUR"),
        ("PUR/  .ATN/X.", "FIELD PUR/ EMPTY", "PUR"),
        ("PUR/C.ATN/", "FIELD ATN/ EMPTY", "ATN"),
        ("PUR/C.ATN/  \n", "FIELD ATN/ EMPTY", "ATN"),
        ("REM/.", "FIELD REM/ EMPTY", "REM"),
        ("PUR/C.REM/ \n", "FIELD REM/ EMPTY", "REM"),
        ("PUR/C\nATN/X.", "FIELD PUR/ NOT ENDED BY PERIOD", "PUR"),
        ("PUR/\nC.", "FIELD PUR/ NOT ENDED BY PERIOD", "PUR"),
        ("HELLO", "TEXT AFTER TXT IS NOT A FIELD", None),
        ("PUR/C.HELLO.", "TEXT AFTER PUR/ IS NOT A FIELD", None),
        ("PUR/C.pur/C.", "TEXT AFTER PUR/ IS NOT A FIELD", None),
        ("PURX/C.", "TEXT AFTER TXT IS NOT A FIELD", None),
        ("PU/C.", "TEXT AFTER TXT IS NOT A FIELD", None),
        ("PUR/C..", "TEXT AFTER PUR/ IS NOT A FIELD", None),
        (".PUR/C.", "TEXT AFTER TXT IS NOT A FIELD", None),
    ],
)
def test_field_faults(body: str, detail: str, field: str | None) -> None:
    exc = error(parse_fields, body)
    assert (exc.code, exc.detail) == (ErrorCode.FIELD, detail)
    assert exc.field == field


def test_format_fields() -> None:
    assert format_fields({"PUR": "C", "ATN": "X"}) == "PUR/C.\nATN/X."
    assert format_fields([("NAM", "DOE, J"), ("REM", "A. B")]) == "NAM/DOE, J.\nREM/A. B."
    assert format_fields({}) == ""


tags = st.from_regex(r"[A-Z0-9]{3}", fullmatch=True).filter(lambda tag: tag != "REM")
values = st.text(
    alphabet=[chr(c) for c in range(0x20, 0x7F) if chr(c) != "."] + ["\t"], min_size=1,
    max_size=25,
).map(lambda text: text.strip(" \t")).filter(bool)
remarks = st.text(
    alphabet=[chr(c) for c in range(0x20, 0x7F)] + ["\n"], min_size=1, max_size=40
).map(lambda text: text.strip(" \t\r\n")).filter(lambda text: text.strip(" \t\r\n."))
field_maps = st.dictionaries(tags, values, max_size=8)
field_ends = st.sampled_from([".", ".\n", ". ", ".\r\n", ".\n\n  ", " . "])


@given(field_maps, st.none() | remarks)
def test_fields_round_trip(fields: dict[str, str], remark: str | None) -> None:
    expected = dict(fields)
    if remark is not None:
        expected["REM"] = remark
    parsed = parse_fields(format_fields(expected))
    assert list(parsed.items()) == list(expected.items())


@given(field_maps, st.none() | remarks, st.data())
def test_fields_with_any_layout(
    fields: dict[str, str], remark: str | None, data: st.DataObject
) -> None:
    body = "".join(f"{tag}/{value}{data.draw(field_ends)}" for tag, value in fields.items())
    expected = dict(fields)
    if remark is not None:
        body += f"REM/{remark}."
        expected["REM"] = remark
    assert list(parse_fields(body).items()) == list(expected.items())


field_pieces = st.sampled_from(
    ["PUR/C.", "PUR/F.", "ATN/X Y.", "NAM/DOE, J.", "REM/A. B.", "REM/", "OCA/1/2.", "XX/", " ",
     "\n", ".", "/", "PUR/", "ATN/ Z .", "abc/d.", "C", "REM", "\r\n", "PHN/1-2", "A1B/\t."]
)


@given(st.lists(field_pieces, max_size=8))
def test_fast_and_general_field_parsers_agree(pieces: list[str]) -> None:
    body = "".join(pieces)
    # As lists: the two must agree on the fields' order too.
    fast = reading(lambda text: list(parse_fields(text).items()), body)
    assert fast == reading(lambda text: list(_parse_fields_general(text).items()), body)


@given(st.text(max_size=120) | st.text(alphabet="PURATN/.REM \nC", max_size=40))
def test_parse_fields_only_raises_message_error(body: str) -> None:
    try:
        fields = parse_fields(body)
    except MessageError as exc:
        assert exc.code == ErrorCode.FIELD
    else:
        assert all(len(tag) == 3 and value for tag, value in fields.items())
