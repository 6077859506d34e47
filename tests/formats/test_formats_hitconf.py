"""YQ hit confirmation requests and QW IVF inquiries."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.errors import ErrorCode, MessageError
from formats.hitconf import QW, YQ, validate_qw, validate_yq
from formats.message import parse_fields, parse_input

TODAY = date(2026, 5, 9)
VALID_YQ = {
    "RTY": "WP",
    "RNO": "1",
    "PRI": "U",
    "OCA": "2026-55",
    "NIC": "V123456789",
    "NAM": "DOE, JOHN",
    "DOB": "19800101",
}
VALID_QW = {"NAM": "DOE, JOHN Q", "DOB": "010180"}


def yq_fault(fields: dict[str, str]) -> MessageError:
    """The MessageError validate_yq raises."""
    with pytest.raises(MessageError) as info:
        validate_yq(fields, TODAY)
    return info.value


def qw_fault(fields: dict[str, str]) -> MessageError:
    """The MessageError validate_qw raises."""
    with pytest.raises(MessageError) as info:
        validate_qw(fields, TODAY)
    return info.value


def test_valid_yq() -> None:
    assert validate_yq(VALID_YQ, TODAY) == YQ(
        rty="WP", rno=1, pri="U", oca="2026-55", nic="V123456789", nam="DOE, JOHN", last="DOE",
        first="JOHN", middle="", dob=date(1980, 1, 1), sex=None, rna=None, rag=None, pho=None,
        rem=None,
    )


def test_yq_from_message_text_with_every_field() -> None:
    text = (
        "YQ.TX0000000.VTINS07S0.TXT\n"
        "RTY/WP.RNO/3.PRI/R.OCA/A1.NIC/V000000001.NAM/ROE, JANE ANN.DOB/020290.SEX/F."
        "RNA/SGT JONES.RAG/TX DPS.PHO/512-555-0100.REM/CALL ME. PLEASE."
    )
    msg = parse_input(text)
    assert msg.dests == ("VTINS07S0",)
    assert validate_yq(parse_fields(msg.body), TODAY) == YQ(
        rty="WP", rno=3, pri="R", oca="A1", nic="V000000001", nam="ROE, JANE ANN", last="ROE",
        first="JANE", middle="ANN", dob=date(1990, 2, 2), sex="F", rna="SGT JONES",
        rag="TX DPS", pho="512-555-0100", rem="CALL ME. PLEASE",
    )


@pytest.mark.parametrize("tag", list(VALID_YQ))
def test_yq_required_fields(tag: str) -> None:
    fields = {key: value for key, value in VALID_YQ.items() if key != tag}
    exc = yq_fault(fields)
    code = ErrorCode.DOB if tag == "DOB" else ErrorCode.MISSING
    assert (exc.code, exc.detail, exc.field) == (code, f"FIELD {tag}/ MISSING", tag)


def test_yq_record_type_is_judged_before_the_person_fields() -> None:
    exc = yq_fault({"RTY": "WV", "RNO": "1", "PRI": "U", "OCA": "X", "NIC": "V123456789"})
    assert (exc.code, exc.detail) == (ErrorCode.FIELD, "RTY/ MUST BE WP")


def test_yq_unknown_tag() -> None:
    exc = yq_fault({**VALID_YQ, "PUR": "C"})
    assert (exc.code, exc.detail, exc.field) == (
        ErrorCode.FIELD, "FIELD PUR/ NOT ALLOWED IN YQ", "PUR"
    )


@pytest.mark.parametrize(
    ("tag", "value", "code", "detail"),
    [
        ("RTY", "wp", ErrorCode.FIELD, "RTY/ MUST BE WP"),
        ("RNO", "4", ErrorCode.FIELD, "RNO/ MUST BE 1, 2 OR 3"),
        ("RNO", "01", ErrorCode.FIELD, "RNO/ MUST BE 1, 2 OR 3"),
        ("PRI", "X", ErrorCode.FIELD, "PRI/ MUST BE U OR R"),
        ("OCA", "A" * 21, ErrorCode.FIELD, "OCA/ LONGER THAN 20"),
        ("OCA", "", ErrorCode.FIELD, "OCA/ EMPTY"),
        ("NIC", "V12345678", ErrorCode.FIELD, "NIC/ MUST BE A LETTER AND 9 DIGITS"),
        ("NIC", "1123456789", ErrorCode.FIELD, "NIC/ MUST BE A LETTER AND 9 DIGITS"),
        ("NIC", "VV23456789", ErrorCode.FIELD, "NIC/ MUST BE A LETTER AND 9 DIGITS"),
        ("NAM", "DOE JOHN", ErrorCode.FIELD, "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS"),
        ("NAM", "D" * 28 + ", J", ErrorCode.FIELD, "NAM/ LONGER THAN 30"),
        ("DOB", "99999999", ErrorCode.DOB, "DOB/ NOT A REAL DATE"),
        ("DOB", "X", ErrorCode.DOB, "DOB/ MUST BE MMDDYY OR CCYYMMDD"),
        ("SEX", "Q", ErrorCode.FIELD, "SEX/ MUST BE M, F OR U"),
        ("RNA", "R" * 31, ErrorCode.FIELD, "RNA/ LONGER THAN 30"),
        ("RAG", "R" * 31, ErrorCode.FIELD, "RAG/ LONGER THAN 30"),
        ("PHO", "555 0100", ErrorCode.FIELD, "PHO/ MUST BE UP TO 20 DIGITS AND DASHES"),
        ("PHO", "5" * 21, ErrorCode.FIELD, "PHO/ MUST BE UP TO 20 DIGITS AND DASHES"),
        ("REM", "R" * 301, ErrorCode.FIELD, "REM/ LONGER THAN 300"),
    ],
)
def test_yq_field_rules(tag: str, value: str, code: ErrorCode, detail: str) -> None:
    exc = yq_fault({**VALID_YQ, tag: value})
    assert (exc.code, exc.detail, exc.field) == (code, detail, tag)


@pytest.mark.parametrize("rno", ["1", "2", "3"])
def test_yq_request_numbers(rno: str) -> None:
    assert validate_yq({**VALID_YQ, "RNO": rno}, TODAY).rno == int(rno)


def test_valid_qw() -> None:
    assert validate_qw(VALID_QW, TODAY) == QW(
        nam="DOE, JOHN Q", last="DOE", first="JOHN", middle="Q", dob=date(1980, 1, 1), sex=None
    )
    assert validate_qw({**VALID_QW, "SEX": "U"}, TODAY).sex == "U"


def test_qw_from_message_text() -> None:
    msg = parse_input("QW.CA0000000.NCIC.TXT NAM/DOE, JOHN.DOB/19800101.SEX/M.")
    assert validate_qw(parse_fields(msg.body), TODAY).sex == "M"


@pytest.mark.parametrize(
    ("fields", "code", "detail", "field"),
    [
        ({"DOB": "010180"}, ErrorCode.MISSING, "FIELD NAM/ MISSING", "NAM"),
        ({"NAM": "DOE, JOHN"}, ErrorCode.DOB, "FIELD DOB/ MISSING", "DOB"),
        ({**VALID_QW, "ARN": "12345678"}, ErrorCode.FIELD, "FIELD ARN/ NOT ALLOWED IN QW", "ARN"),
        ({**VALID_QW, "NAM": "DOE"}, ErrorCode.FIELD,
         "NAM/ MUST BE LAST, FIRST MIDDLE IN LETTERS", "NAM"),
        ({**VALID_QW, "DOB": "20300101"}, ErrorCode.DOB, "DOB/ AFTER TODAY", "DOB"),
        ({**VALID_QW, "SEX": "MALE"}, ErrorCode.FIELD, "SEX/ MUST BE M, F OR U", "SEX"),
    ],
)
def test_qw_faults(fields: dict[str, str], code: ErrorCode, detail: str, field: str) -> None:
    exc = qw_fault(fields)
    assert (exc.code, exc.detail, exc.field) == (code, detail, field)


yq_tags = st.sampled_from([*VALID_YQ, "SEX", "RNA", "RAG", "PHO", "REM", "PUR"])
values = st.text(max_size=12) | st.from_regex(r"[A-Z0-9, '-]{0,12}", fullmatch=True)


@given(st.dictionaries(yq_tags, values, max_size=6), st.booleans())
def test_validate_yq_only_raises_message_error(changes: dict[str, str], start_valid: bool) -> None:
    fields = {**VALID_YQ, **changes} if start_valid else changes
    try:
        result = validate_yq(fields, TODAY)
    except MessageError as exc:
        assert exc.code in {ErrorCode.MISSING, ErrorCode.DOB, ErrorCode.FIELD}
    else:
        assert result.rno in (1, 2, 3)


@given(st.dictionaries(st.sampled_from(["NAM", "DOB", "SEX", "OCA"]), values, max_size=4),
       st.booleans())
def test_validate_qw_only_raises_message_error(changes: dict[str, str], start_valid: bool) -> None:
    fields = {**VALID_QW, **changes} if start_valid else changes
    try:
        result = validate_qw(fields, TODAY)
    except MessageError as exc:
        assert exc.code in {ErrorCode.MISSING, ErrorCode.DOB, ErrorCode.FIELD}
    else:
        assert result.sex in (None, "M", "F", "U")
