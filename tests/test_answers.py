"""Answers a technician would give (issue 9): where an A-number record differs from the
inquiry, one announcement of an enhanced response, several destinations with unknown ones."""

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lesc_support import (
    Lesc,
    fields_of,
    lesc_fixture,  # noqa: F401
    nothing_more,
)
from messages import am, iaq

from formats.message import format_fields, format_input
from formats.notices import parse_er_body
from responders.lesc.iaq_steps import ENHANCED_FOLLOWS, Inquiry, same_name
from responders.lesc.index import Record
from simulator.client import LineClient, Received

CA = "CA0000000"
TECHNICIAN_AT_ONCE: dict[str, Any] = {"technician_delay": "fixed", "technician_delay_mean": 0.0}


async def ack_and_iar(client: LineClient) -> Received:
    """Read the LESC acknowledgement and return the IAR after it."""
    ack, iar = await client.recv_many(2)
    assert ack.message.mke == "AM" and iar.message.mke == "IAR", (ack.text, iar.text)
    return iar


def er_detail(out: Received) -> str:
    """The detail line of an ER .19. from the switch."""
    assert out.message.mke == "ER" and out.message.sender == "NL0000000", out.text
    code, detail, _ = parse_er_body(out.message.body)
    assert code == ".19.", out.text
    return detail


# --- An A-number record whose name or DOB is not the one asked about -------------------


@pytest.mark.parametrize(
    ("arn", "nam", "dob", "rnm", "rdb"),
    [
        # Someone else's A-number: neither name nor DOB agree.
        ("098765432", "GARCIA, MARIA ELENA", "19850314", "JOHNSON, PETER", "19700101"),
        # The right person, a day off.
        ("012345678", "GARCIA, MARIA ELENA", "19850315", None, "19850314"),
        # Same surname and DOB, another first name.
        ("012345678", "GARCIA, ANA", "19850314", "GARCIA, MARIA ELENA", None),
        # Another middle name.
        ("012345678", "GARCIA, MARIA LUISA", "031485", "GARCIA, MARIA ELENA", None),
    ],
)
async def test_arn_match_says_where_the_record_differs(
    lesc: Lesc, arn: str, nam: str, dob: str, rnm: str | None, rdb: str | None
) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA, arn=arn, nam=nam, dob=dob))
    iar = await ack_and_iar(client)
    fields, lines = fields_of(iar), iar.message.body.splitlines()
    # The inquiry is echoed as asked; the record's own name and DOB follow the SPEC fields.
    assert (fields["NAM"], fields["DOB"], fields["ARN"]) == (nam, dob, f"A{arn}")
    assert fields.get("RNM") == rnm and fields.get("RDB") == rdb
    assert (f"NAME ON RECORD DIFFERS FROM INQUIRY: {rnm}." in lines) is (rnm is not None)
    assert (f"DOB ON RECORD {rdb} DIFFERS FROM INQUIRY." in lines) is (rdb is not None)
    tags = [line[:3] for line in lines if line[3:4] == "/"]
    added = [tag for tag in ("RNM", "RDB") if tag in fields]
    # The indices searched come after every other field.
    expected = ["NAM", "DOB", "SEX", "LCN", "STS", "ARN", "POB", "COA", "SDT", *added, "IDX"]
    assert tags == expected


@pytest.mark.parametrize(
    ("nam", "dob"),
    [
        ("GARCIA, MARIA ELENA", "19850314"),
        ("GARCIA, MARIA", "031485"),  # no middle name asked: nothing to differ
        ("GARCIA, MARIA E", "19850314"),  # a middle initial
        ("GARCIA , MARIA  ELENA", "19850314"),  # spacing
    ],
)
async def test_arn_match_of_the_same_person_adds_nothing(lesc: Lesc, nam: str, dob: str) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA, arn="012345678", nam=nam, dob=dob))
    iar = await ack_and_iar(client)
    assert fields_of(iar)["STS"] == "LPR"
    assert "RNM" not in fields_of(iar) and "RDB" not in fields_of(iar)
    assert "DIFFERS" not in iar.message.body


async def test_enhanced_response_from_an_arn_record_says_where_it_differs(lesc: Lesc) -> None:
    gateway = await lesc.start(**TECHNICIAN_AT_ONCE)
    client = await lesc.connect(gateway, "CA")
    await client.send(
        iaq(CA, arn="098765432", nam="GARCIA, MARIA", dob="031485", rem="ENHANCED PLEASE")
    )
    first = await ack_and_iar(client)
    enhanced = await client.recv()
    assert fields_of(enhanced)["ENH"] == "Y" and fields_of(enhanced)["ARN"] == "A098765432"
    for iar in (first, enhanced):
        assert fields_of(iar)["RNM"] == "JOHNSON, PETER"
        assert fields_of(iar)["RDB"] == "19700101"
        assert "DOB ON RECORD 19700101 DIFFERS FROM INQUIRY." in iar.message.body


def record(last: str, first: str, middle: str = "", dob: date = date(1985, 3, 14)) -> Record:
    """An index record with this identity."""
    return Record(
        "012345678", last, first, middle, dob, "F", "MX", "LPR", "IR1", date(2010, 5, 1),
        None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "on_record", "same"),
    [
        (("GARCIA LOPEZ", "MARIA", ""), ("GARCIA-LOPEZ", "MARIA", ""), True),
        (("OBRIEN", "SEAN", ""), ("O'BRIEN", "SEAN", ""), True),
        (("DE LA CRUZ", "ANA", ""), ("dela cruz", "Ana", ""), True),
        (("GARCIA", "M", ""), ("GARCIA", "MARIA", "ELENA"), True),  # first initial
        (("GARCIA", "MARIA", "E"), ("GARCIA", "MARIA", "ELENA"), True),
        (("GARCIA", "MARIA", "ELENA"), ("GARCIA", "MARIA", ""), True),
        # Soundex and first initial agree, yet these are other names.
        (("SMITH", "JOHN", ""), ("SMYTH", "JOHN", ""), False),
        (("SMITH", "JOHN", ""), ("SMITH", "JAMES", ""), False),
        (("GARCIA", "MARIA", "LUISA"), ("GARCIA", "MARIA", "ELENA"), False),
        (("GARCIA", "M", ""), ("GARCIA", "ANA", ""), False),
    ],
)
def test_same_name(
    asked: tuple[str, str, str], on_record: tuple[str, str, str], same: bool
) -> None:
    assert same_name(Inquiry(*asked, date(1985, 3, 14)), record(*on_record)) is same


NAME = st.from_regex(r"[A-Z]{1,8}( [A-Z]{1,8})?", fullmatch=True)


@given(last=NAME, first=st.from_regex(r"[A-Z]{1,8}", fullmatch=True), middle=NAME | st.just(""))
def test_spelling_never_makes_another_name(last: str, first: str, middle: str) -> None:
    on_record = record(last, first, middle)
    respelled = Inquiry(last.replace(" ", "-").lower(), first.title(), middle, on_record.dob)
    assert same_name(respelled, on_record)
    assert same_name(Inquiry(last, first[0], middle[:1], on_record.dob), on_record)
    assert not same_name(Inquiry(last + "X", first, middle, on_record.dob), on_record)


# --- The enhanced response is announced once -------------------------------------------


@pytest.mark.parametrize(
    ("pur", "nam", "dob", "sex", "rem", "sts", "announced"),
    [
        ("F", "OKAFOR, CHINEDU", "19881111", "M", None, "NIV", 1),  # manual check
        ("F", "OKAFOR, CHINEDU", "19881111", "M", "ENHANCED PLEASE", "NIV", 1),
        ("F", "SMYTH, JOHN", "19800202", "M", None, "MLT", 1),
        ("F", "SMYTH, JOHN", "19800202", "M", "ENH", "MLT", 1),
        ("F", "GARCIA, MARIA", "19850314", "F", "ENHANCED", "LPR", 1),
        ("F", "GARCIA, MARIA", "19850314", "F", None, "LPR", 0),
        ("C", "SMYTH, JOHN", "19800202", "M", None, "MLT", 1),
        ("C", "GARCIA, MARIA", "19850314", "F", "ENHANCED", "LPR", 1),
        ("C", "OKAFOR, CHINEDU", "19881111", "M", None, "NIV", 0),
    ],
)
async def test_enhanced_response_announced_once(
    lesc: Lesc,
    pur: str,
    nam: str,
    dob: str,
    sex: str,
    rem: str | None,
    sts: str,
    announced: int,
) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA, pur=pur, nam=nam, dob=dob, sex=sex, rem=rem))
    iar = await ack_and_iar(client)
    assert fields_of(iar)["STS"] == sts
    assert iar.message.body.count(ENHANCED_FOLLOWS.rstrip(".")) == announced
    assert ("FIREARMS: MANUAL CHECK IN PROGRESS." in iar.message.body) is (
        pur == "F" and sts in {"NIV", "MLT"}
    )
    assert await nothing_more(client, 0.1)


# --- Several destinations, some of them unknown ----------------------------------------


async def test_one_unknown_destination_among_several(lesc: Lesc) -> None:
    gateway = await lesc.start()
    ca = await lesc.connect(gateway, "CA")
    tx = await lesc.connect(gateway, "TX")
    await ca.send(am(CA, "TX", "ZZ9999999", text="BOLO", control="M1"))
    delivered = await tx.recv()
    assert (delivered.message.mke, delivered.message.body) == ("AM", "BOLO")
    assert delivered.message.sender == CA and delivered.message.control == "M1"
    er = await ca.recv()
    assert er_detail(er) == "DESTINATION ZZ9999999 UNKNOWN" and er.message.control == "M1"
    assert await nothing_more(ca, 0.2) and await nothing_more(tx, 0.1)
    # The message was accepted for TX and rejected for the unknown destination.
    [accepted] = lesc.events("message.accepted")
    [rejected] = lesc.events("message.rejected")
    assert accepted["dest"] == "TX.ZZ9999999"
    assert (rejected["error_code"], rejected["detail"]) == (".19.", "DESTINATION ZZ9999999 UNKNOWN")


async def test_iaq_to_the_lesc_and_an_unknown_destination_is_answered(lesc: Lesc) -> None:
    gateway = await lesc.start()
    ca = await lesc.connect(gateway, "CA")
    body = format_fields({"PUR": "C", "ATN": "DET SMITH", "PHN": "916-555-0100",
                          "NAM": "GARCIA, MARIA", "DOB": "19850314", "SEX": "F", "POB": "MX",
                          "CUS": "N", "OFF": "0399"})  # fmt: skip
    await ca.send(format_input("IAQ", CA, ["AX", "QQ"], body))
    outputs = await ca.recv_many(3)
    by_key = {out.message.mke: out for out in outputs}
    assert sorted(by_key) == ["AM", "ER", "IAR"]
    assert er_detail(by_key["ER"]) == "DESTINATION QQ UNKNOWN"
    assert fields_of(by_key["IAR"])["STS"] == "LPR"
    assert await nothing_more(ca, 0.2)


async def test_a_repeated_destination_gets_the_message_once(lesc: Lesc) -> None:
    gateway = await lesc.start()
    ca = await lesc.connect(gateway, "CA")
    tx = await lesc.connect(gateway, "TX")
    await ca.send(am(CA, "TX", "CA", "TX", text="TWICE"))
    assert (await tx.recv()).message.body == "TWICE"
    outputs = await ca.recv_many(2)
    assert sorted(out.message.mke for out in outputs) == ["AM", "ER"]
    [er] = [out for out in outputs if out.message.mke == "ER"]
    assert er_detail(er) == "DESTINATION TX REPEATED"
    assert await nothing_more(ca, 0.2) and await nothing_more(tx, 0.1)


async def test_every_destination_unknown_is_one_er_each(lesc: Lesc) -> None:
    gateway = await lesc.start()
    ca = await lesc.connect(gateway, "CA")
    await ca.send(am(CA, "ZZ", "YY9999999"))
    details = [er_detail(out) for out in await ca.recv_many(2)]
    assert details == ["DESTINATION ZZ UNKNOWN", "DESTINATION YY9999999 UNKNOWN"]
    assert await nothing_more(ca, 0.2)
    assert lesc.events("message.accepted") == []
