"""NCIC IVF inquiries (QW/QR) and hit confirmation outcomes (YQ/YR) over real TCP (issue 3)."""

from datetime import timedelta

import pytest
from lesc_support import (
    HADDAD_NIC,
    LOPEZ_NIC,
    PEREZ_NIC,
    RIVERA_NIC,
    Lesc,
    agency,
    fields_of,
    lesc_fixture,  # noqa: F401
    lesc_of,
    nothing_more,
    qw,
    yq,
)
from messages import iaq

from formats.framing import encode_frame
from formats.message import format_input
from formats.notices import parse_er_body
from simulator.client import LineClient

CA = "CA0000000"


async def test_qw_hit_lists_each_ivf_record_with_caveat(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(qw(CA, "LOPES, CARLOS", "050575", "M"))  # Soundex and MMDDYY
    out = await client.recv()
    assert out.message.mke == "QR" and out.message.sender == "DCFBIWA00"
    assert out.message.dest == CA
    fields = fields_of(out)
    assert fields["MKE"] == "IMMIGRATION VIOLATOR - DEPORTED FELON"
    assert fields["NIC"] == LOPEZ_NIC
    assert fields["NAM"] == "LOPEZ, CARLOS" and fields["DOB"] == "19750505"
    assert fields["SEX"] == "M" and fields["POB"] == "MX" and fields["ARN"] == "A033333333"
    assert out.message.body.endswith(
        "CONFIRM HIT WITH LESC BY YQ TO VTINS07S0 BEFORE TAKING ACTION"
    )
    await client.send(qw(CA, "HADDAD, OMAR", "19790909"))
    fields = fields_of(await client.recv())
    assert fields["MKE"] == "IMMIGRATION VIOLATOR - NSEERS VIOLATOR"
    assert fields["NIC"] == HADDAD_NIC


@pytest.mark.parametrize(
    ("nam", "dob", "category", "notes"),
    [
        (
            "LOPEZ, CARLOS", "19750505", "DEPORTED FELON",
            ["CRIMINAL - SUBJECT WAS DEPORTED AFTER CONVICTION FOR DRUG OR FIREARMS TRAFFICKING"
             " OR A SERIOUS VIOLENT CRIME.",
             "REENTRY AFTER REMOVAL WITHOUT PERMISSION IS A FEDERAL FELONY (8 USC 1326)."],
        ),
        (
            "PEREZ, ANA", "19920909", "ABSCONDER",
            ["CIVIL - SUBJECT FAILED TO DEPART AFTER A FINAL ORDER OF REMOVAL.",
             "ICE HOLDS AN ADMINISTRATIVE WARRANT OF REMOVAL (DHS FORM I-205).",
             "THIS IS NOT A CRIMINAL WARRANT."],
        ),
        (
            "HADDAD, OMAR", "19790909", "NSEERS VIOLATOR",
            ["CIVIL - SUBJECT FAILED TO COMPLY WITH NSEERS SPECIAL REGISTRATION.",
             "NO CRIMINAL WARRANT IS ON FILE FOR THIS VIOLATION."],
        ),
    ],
)  # fmt: skip
async def test_qw_hit_says_what_its_ivf_category_means(
    lesc: Lesc, nam: str, dob: str, category: str, notes: list[str]
) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(qw(CA, nam, dob))
    out = await client.recv()
    assert fields_of(out)["MKE"] == f"IMMIGRATION VIOLATOR - {category}"
    lines = out.message.body.split("\n")
    # The category's notes sit between the record's fields and the caveat to confirm it.
    assert lines[-len(notes) - 1 : -1] == notes
    assert lines[-1] == "CONFIRM HIT WITH LESC BY YQ TO VTINS07S0 BEFORE TAKING ACTION"
    assert ("NOT A CRIMINAL WARRANT" in out.message.body) is (category == "ABSCONDER")


@pytest.mark.parametrize(
    ("nam", "dob"),
    [
        ("GARCIA, MARIA", "19850314"),  # in the index, not in the IVF
        ("DOE, JOHN", "19800101"),  # nowhere
    ],
)
async def test_qw_no_hit(lesc: Lesc, nam: str, dob: str) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(qw(CA, nam, dob))
    out = await client.recv()
    assert out.message.mke == "QR"
    assert out.message.body.splitlines()[0] == "NO NCIC IMMIGRATION VIOLATOR RECORD"
    assert fields_of(out) == {"NAM": nam, "DOB": dob}


async def test_confirmed_hit_lodges_detainer_with_ice_copy(lesc: Lesc) -> None:
    gateway = await lesc.start()
    sender = agency(gateway, "CA")
    client = await lesc.connect(gateway, "CA")
    await client.send(yq(sender, control="K9", oca="OCA-77"))
    yr, notice, copy = await client.recv_many(3)
    assert yr.message.mke == "YR" and yr.message.sender == "VTINS07S0"
    assert yr.message.dest == sender and yr.message.control == "K9"
    fields = fields_of(yr)
    assert fields["STA"] == "CONFIRMED"
    assert fields["DTN"] == "Y"
    assert fields["NAO"] == "LESC HIT CONFIRMATION UNIT"
    assert (fields["RTY"], fields["RNO"], fields["OCA"]) == ("WP", "1", "OCA-77")
    assert (fields["NIC"], fields["NAM"]) == (LOPEZ_NIC, "LOPEZ, CARLOS")
    assert "RTM" not in fields
    for out, dest in ((notice, sender), (copy, "CAICE0000")):
        assert out.message.mke == "AM" and out.message.sender == "VTINS07S0"
        assert out.message.dest == dest
        assert out.message.body.startswith("IMMIGRATION DETAINER LODGED")
        assert fields_of(out)["ARN"] == "A033333333"
        assert fields_of(out)["ORI"] == sender
    [lodged] = lesc.events("detainer.lodged")
    assert lodged["ori"] == sender and lodged["dest"] == "CAICE0000"
    # Confirmed again for the same agency: DTN/Y, but the detainer is already in place.
    await client.send(yq(sender, oca="OCA-78"))
    again = await client.recv()
    assert fields_of(again)["STA"] == "CONFIRMED" and fields_of(again)["DTN"] == "Y"
    assert await nothing_more(client)
    assert len(lesc.events("detainer.lodged")) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"nic": "I000000001"}, "NO IMMIGRATION VIOLATOR RECORD WITH NIC/I000000001."),
        ({"nic": RIVERA_NIC, "nam": "RIVERA, JOSE", "dob": "19830303"}, "IS CLEARED"),
        ({"nam": "SMITH, JOHN", "dob": "19600101"}, "IDENTIFIERS DO NOT MATCH"),
    ],
)
async def test_not_confirmed_at_once(
    lesc: Lesc, overrides: dict[str, str], reason: str
) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(yq(CA, **overrides))
    yr = await client.recv()
    fields = fields_of(yr)
    assert fields["STA"] == "NOT CONFIRMED"
    assert "DTN" not in fields and "RTM" not in fields
    assert reason in yr.message.body
    assert await nothing_more(client)
    assert lesc.events("detainer.lodged") == []


@pytest.mark.parametrize(
    ("overrides", "sta"),
    [
        # Surname misspelt (same Soundex): the technician confirms.
        ({"nam": "LOPES, CARLOS"}, "CONFIRMED"),
        # Right name, wrong DOB: the technician does not.
        ({"dob": "19750606"}, "NOT CONFIRMED"),
    ],
)
async def test_partial_match_answered_by_simulated_technician(
    lesc: Lesc, overrides: dict[str, str], sta: str
) -> None:
    gateway = await lesc.start(technician_delay="fixed", technician_delay_mean=0.0)
    client = await lesc.connect(gateway, "TX")
    await client.send(yq("TX0000000", control="T1", **overrides))
    yr = await client.recv()
    fields = fields_of(yr)
    assert fields["STA"] == sta
    assert fields["NAO"].startswith("LESC TECHNICIAN ")
    # The final YR answers the YQ: its header line 2 is the YQ's, and so is the control.
    assert yr.message.in_seq == 1 and yr.message.control == "T1"
    if sta == "CONFIRMED":
        assert fields["DTN"] == "Y"
        notice, copy = await client.recv_many(2)
        assert {notice.message.dest, copy.message.dest} == {"TX0000000", "TXICE0000"}
    assert await nothing_more(client)
    [deadline] = lesc.events("hit.deadline")
    assert deadline["sta"] == sta and deadline["margin_ms"] == 600_000


async def test_identity_sex_mismatch_is_partial(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(yq(CA, nic=PEREZ_NIC, nam="PEREZ, ANA", dob="19920909", sex="M"))
    assert await nothing_more(client)
    [(case, _)] = lesc_of(gateway).casebook.pending_due(lesc.clock.now() + timedelta(hours=1), 10)
    assert case.state == "open" and case.nic == PEREZ_NIC


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        (yq(CA, pri=None), ".14.", "PRI"),
        (yq(CA, rno="4"), ".22.", "RNO"),
        (yq(CA, rno="0"), ".22.", "RNO"),
        (yq(CA, nic="123456789X"), ".22.", "NIC"),
        (yq(CA, nic="I12345"), ".22.", "NIC"),
        (yq(CA, arn="033333333"), ".22.", "ARN"),  # not a YQ data set
        (yq(CA, rty="WV"), ".22.", "RTY"),
        (yq(CA, nam=None), ".14.", "NAM"),
        (yq(CA, pri="X"), ".22.", "PRI"),
        (format_input("YR", CA, ["VTINS07S0"], "RTY/WP.STA/CONFIRMED."), ".02.", "YR"),
        (format_input("YR", CA, ["AX"], "RTY/WP.STA/CONFIRMED."), ".02.", "YR"),
        (format_input("QW", CA, ["NCIC"], "NAM/LOPEZ, CARLOS."), ".05.", "DOB"),
        (format_input("YQ", CA, ["NCIC"], "RTY/WP."), ".02.", "YQ"),
    ],
)
async def test_bad_hit_confirmation_input(
    lesc: Lesc, text: str, code: str, field: str
) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(text)
    out = await client.recv()
    assert out.message.mke == "ER", out.text
    er_code, detail, original = parse_er_body(out.message.body)
    assert er_code == code, out.text
    assert field in detail
    assert original == text[:100]
    # The session goes on; nothing was opened or counted.
    await client.send(qw(CA, "DOE, JOHN", "19800101"))
    assert (await client.recv()).message.mke == "QR"
    assert lesc_of(gateway).casebook.open_count() == 0


async def test_yq_to_lesc_and_a_line(lesc: Lesc) -> None:
    gateway = await lesc.start()
    ca = await lesc.connect(gateway, "CA")
    tx = await lesc.connect(gateway, "TX")
    await ca.send(yq(CA, "VTINS07S0", "TX0000000"))
    forwarded = await tx.recv()
    assert forwarded.message.mke == "YQ" and forwarded.message.sender == CA
    mkes = [out.message.mke for out in await ca.recv_many(3)]
    assert mkes == ["YR", "AM", "AM"]


async def test_yq_more_than_three_destinations(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client: LineClient = await lesc.connect(gateway, "CA")
    await client.send(yq(CA, "VTINS07S0", "TX", "NY", "WA"))
    out = await client.recv()
    assert parse_er_body(out.message.body)[0] == ".19."



async def test_requests_in_one_read_find_each_other(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "TX")
    first = yq("TX0000000", oca="S-1", nam="LOPES, CARLOS")
    second = yq("TX0000000", oca="S-1", nam="LOPES, CARLOS", rno="2")
    custody = iaq("TX0000000", arn="033333333", cus="Y")
    # One write: the gateway answers the four in one batch, before any of them is committed.
    await client.send_raw(b"".join(encode_frame(t) for t in (first, second, custody, custody)))
    pending = await client.recv()
    assert fields_of(pending)["STA"] == "PENDING" and fields_of(pending)["RNO"] == "2"
    outputs = await client.recv_many(6)
    assert [o.message.mke for o in outputs] == ["AM", "IAR", "AM", "AM", "AM", "IAR"]
    assert fields_of(outputs[5])["DTN"] == "Y"
    assert await nothing_more(client)
    assert len(lesc.events("detainer.lodged")) == 1
    assert lesc_of(gateway).casebook.open_count() == 1


@pytest.mark.parametrize(
    ("arn", "name", "basis"),
    [
        ("033333333", "LOPEZ, CARLOS", "A FINAL ORDER OF REMOVAL AGAINST THE SUBJECT"),
        ("044444444", "PEREZ, ANA", "A FINAL ORDER OF REMOVAL AGAINST THE SUBJECT"),
        (
            "077777777", "HADDAD, OMAR",
            "RECORDS CHECKS OF FEDERAL DATABASES THAT AFFIRMATIVELY INDICATE THE SUBJECT LACKS"
            " IMMIGRATION STATUS OR IS REMOVABLE UNDER U.S. IMMIGRATION LAW",
        ),
    ],
)  # fmt: skip
async def test_detainer_carries_the_i247a_notice(
    lesc: Lesc, arn: str, name: str, basis: str
) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "TX")
    await client.send(iaq("TX0000000", arn=arn, cus="Y"))
    # The acknowledgement, the IAR, the notice and its copy to the ICE field office (on TX).
    outputs = await client.recv_many(4)
    lodged = [o for o in outputs if o.message.body.startswith("IMMIGRATION DETAINER LODGED")]
    [notice, copy] = sorted(lodged, key=lambda out: out.message.dest)
    assert (notice.message.dest, copy.message.dest) == ("TX0000000", "TXICE0000")
    assert copy.message.body == notice.message.body
    fields = fields_of(notice)
    assert (fields["NAM"], fields["ARN"], fields["ORI"]) == (name, f"A{arn}", "TX0000000")
    lines = notice.message.body.split("\n")
    assert lines[0] == "IMMIGRATION DETAINER LODGED"
    assert lines[-7:] == [
        "DHS FORM I-247A IMMIGRATION DETAINER - NOTICE OF ACTION",
        "DHS HAS DETERMINED THAT PROBABLE CAUSE EXISTS THAT THE SUBJECT IS A REMOVABLE ALIEN."
        f" THIS DETERMINATION IS BASED ON {basis}.",
        "IT IS REQUESTED THAT YOU:",
        "NOTIFY DHS AS EARLY AS PRACTICABLE (AT LEAST 48 HOURS, IF POSSIBLE) BEFORE THE SUBJECT"
        " IS RELEASED FROM YOUR CUSTODY.",
        "MAINTAIN CUSTODY OF THE SUBJECT FOR A PERIOD NOT TO EXCEED 48 HOURS BEYOND THE TIME WHEN"
        " THE SUBJECT WOULD OTHERWISE HAVE BEEN RELEASED FROM YOUR CUSTODY.",
        "A COPY OF THIS DETAINER MUST BE SERVED ON THE SUBJECT FOR IT TO TAKE EFFECT.",
        "CONTACT ICE FIELD OFFICE TXICE0000; IF NO OFFICIAL CAN BE REACHED, THE LAW ENFORCEMENT"
        " SUPPORT CENTER AT VTINS07S0.",
    ]
