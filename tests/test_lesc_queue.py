"""Enhanced responses, the technician queue (simulated, CLI), PUR/F, IAQ detainers (issue 3)."""

import orjson
import pytest
from lesc_support import (
    Lesc,
    agency,
    fields_of,
    iaqgw_async,
    lesc_fixture,  # noqa: F401
    lesc_of,
    nothing_more,
    yq,
)
from messages import iaq

from simulator.client import LineClient, Received

CA = "CA0000000"
TECHNICIAN_AT_ONCE = {"technician_delay": "fixed", "technician_delay_mean": 0.0}


async def ack_and_iar(client: LineClient) -> tuple[Received, Received]:
    """The LESC acknowledgement and the first IAR."""
    ack, iar = await client.recv_many(2)
    assert ack.message.mke == "AM" and "LESC ACKNOWLEDGES RECEIPT" in ack.message.body
    assert iar.message.mke == "IAR"
    return ack, iar


@pytest.mark.parametrize(
    ("nam", "dob", "sex", "rem", "sts", "arn"),
    [
        # Several possible records: the one with the queried first name.
        ("SMYTH, JOHN", "19800202", "M", None, "NIV", "A011111111"),
        ("NGUYEN, THANH", "19900707", "M", None, "LPR", "A022222222"),
        # One record, and REM asks for an enhanced response.
        ("GARCIA, MARIA", "19850314", "F", "PLEASE SEND ENHANCED RESPONSE", "LPR", "A012345678"),
    ],
)
async def test_enhanced_response_by_simulated_technician(
    lesc: Lesc, nam: str, dob: str, sex: str, rem: str | None, sts: str, arn: str
) -> None:
    gateway = await lesc.start(**TECHNICIAN_AT_ONCE)
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(CA, nam=nam, dob=dob, sex=sex, rem=rem, control="E1"))
    _, first = await ack_and_iar(client)
    assert "ENH" not in fields_of(first)
    if rem is None:
        assert fields_of(first)["STS"] == "MLT"
    else:
        assert "AN ENHANCED RESPONSE FOLLOWS." in first.message.body
    enhanced = await client.recv()
    fields = fields_of(enhanced)
    assert enhanced.message.mke == "IAR" and enhanced.message.sender == "VTINS07S0"
    assert fields["ENH"] == "Y" and fields["STS"] == sts and fields["ARN"] == arn
    assert fields["LCN"] == fields_of(first)["LCN"]
    assert fields["NAM"] == nam and fields["DOB"] == dob
    assert "ENHANCED RESPONSE BY LESC TECHNICIAN" in enhanced.message.body
    assert enhanced.message.in_seq == first.message.in_seq and enhanced.message.control == "E1"
    assert await nothing_more(client)
    [answered] = lesc.events("queue.answered")
    assert answered["outcome"] == sts and answered["kind"] == "ENH"


async def test_operator_answers_through_the_cli(lesc: Lesc) -> None:
    gateway = await lesc.start()  # no simulated technician: the operator answers
    client = await lesc.connect(gateway, "CA")
    sender = agency(gateway, "CA")
    await client.send(iaq(sender, nam="SMYTH, JOHN", dob="19800202", sex="M"))
    await ack_and_iar(client)
    await client.send(yq(sender, nam="LOPEZ, CARLOS", dob="19750606"))  # partial: queued
    await lesc.wait_open(gateway, 2)
    data_dir = str(lesc.data_dir)
    listed = await iaqgw_async("queue", "list", "--json", "--data-dir", data_dir)
    assert listed.returncode == 0, listed.stderr
    items = {item["kind"]: item for item in orjson.loads(listed.stdout)}
    hit, enh = items["HIT"], items["ENH"]
    assert hit["nic"] == "I123456789" and hit["pri"] == "U" and hit["ori"] == sender
    assert enh["candidates"] == ["A011111111", "A011111112"] and enh["purpose"] == "C"
    table = await iaqgw_async("queue", "list", "--data-dir", data_dir)
    assert table.returncode == 0 and "2 case(s)" in table.stdout

    # Bad answers are refused with the reason; nothing changes.
    wrong = await iaqgw_async("queue", "answer", str(enh["id"]), "A099999999", "--data-dir",
                              data_dir)
    assert wrong.returncode == 2 and "A011111111 A011111112" in wrong.stderr
    wrong = await iaqgw_async("queue", "answer", str(hit["id"]), "MAYBE", "--data-dir", data_dir)
    assert wrong.returncode == 2 and "NOT-CONFIRMED" in wrong.stderr
    missing = await iaqgw_async("queue", "answer", "999", "NRF", "--data-dir", data_dir)
    assert missing.returncode == 1 and "no case 999" in missing.stderr
    assert await nothing_more(client, 0.2)

    done = await iaqgw_async("queue", "answer", str(enh["id"]), "A011111112", "--by", "J DOE",
                             "--remark", "identified by fingerprints", "--data-dir", data_dir)
    assert done.returncode == 0, done.stderr
    enhanced = await client.recv()
    fields = fields_of(enhanced)
    assert fields["ENH"] == "Y" and fields["STS"] == "OOS" and fields["ARN"] == "A011111112"
    assert "ENHANCED RESPONSE BY J DOE." in enhanced.message.body
    assert "REMARKS: IDENTIFIED BY FINGERPRINTS" in enhanced.message.body

    done = await iaqgw_async("queue", "answer", str(hit["id"]), "NOT", "CONFIRMED", "--by",
                             "J DOE", "--data-dir", data_dir)
    assert done.returncode == 0, done.stderr
    yr = await client.recv()
    assert fields_of(yr)["STA"] == "NOT CONFIRMED" and fields_of(yr)["NAO"] == "J DOE"
    assert yr.message.in_seq == 2
    again = await iaqgw_async("queue", "answer", str(hit["id"]), "CONFIRMED", "--data-dir",
                              data_dir)
    assert again.returncode == 1 and "closed" in again.stderr
    assert lesc_of(gateway).casebook.open_count() == 0
    listed = await iaqgw_async("queue", "list", "--json", "--data-dir", data_dir)
    assert orjson.loads(listed.stdout) == []


async def test_queue_cli_without_journal(tmp_path: object) -> None:
    result = await iaqgw_async("queue", "list", "--data-dir", f"{tmp_path}/nothing")
    assert result.returncode == 1 and "no journal" in result.stderr


@pytest.mark.parametrize(
    ("nam", "dob", "sex", "sts", "firearms"),
    [
        ("GARCIA, MARIA", "19850314", "F", "LPR", "NO IMMIGRATION PROHIBITION"),
        ("DOE, JANE", "19900101", "F", "NRF", "NO DHS RECORD"),
    ],
)
async def test_brady_check_answered_at_once_and_copied_to_nics(
    lesc: Lesc, nam: str, dob: str, sex: str, sts: str, firearms: str
) -> None:
    gateway = await lesc.start(**TECHNICIAN_AT_ONCE)
    ca = await lesc.connect(gateway, "CA")
    wv = await lesc.connect(gateway, "WV")
    await ca.send(iaq(CA, pur="F", nam=nam, dob=dob, sex=sex))
    _, iar = await ack_and_iar(ca)
    assert fields_of(iar)["STS"] == sts
    assert f"FIREARMS: {firearms}" in iar.message.body
    copy = await wv.recv()
    assert copy.message.mke == "IAR" and copy.message.dest == "WVFBINICS"
    assert copy.message.body == iar.message.body
    assert await nothing_more(ca) and await nothing_more(wv, 0.1)


async def test_brady_manual_check_goes_to_the_technician(lesc: Lesc) -> None:
    gateway = await lesc.start(**TECHNICIAN_AT_ONCE)
    ca = await lesc.connect(gateway, "CA")
    wv = await lesc.connect(gateway, "WV")
    await ca.send(iaq(CA, pur="F", nam="OKAFOR, CHINEDU", dob="19881111", sex="M"))
    _, iar = await ack_and_iar(ca)
    assert fields_of(iar)["STS"] == "NIV"
    assert "FIREARMS: MANUAL CHECK IN PROGRESS." in iar.message.body
    assert "AN ENHANCED RESPONSE FOLLOWS." in iar.message.body
    enhanced = await ca.recv()
    assert fields_of(enhanced)["ENH"] == "Y" and fields_of(enhanced)["STS"] == "NIV"
    assert "922(G)(5)(B)" in enhanced.message.body
    copies = await wv.recv_many(2)
    assert [c.message.body for c in copies] == [iar.message.body, enhanced.message.body]
    assert all(c.message.dest == "WVFBINICS" for c in copies)


async def test_brady_from_the_nics_ori_is_not_copied_to_itself(lesc: Lesc) -> None:
    gateway = await lesc.start(nics_ori="WV0000000")
    wv = await lesc.connect(gateway, "WV")
    await wv.send(iaq("WV0000000", pur="F", arn="012345678"))
    _, iar = await ack_and_iar(wv)
    assert fields_of(iar)["STS"] == "LPR"
    assert await nothing_more(wv)


@pytest.mark.parametrize(
    ("arn", "cus", "detainer"),
    [
        ("033333333", "Y", True),  # REM and in the IVF
        ("044444444", "Y", True),  # OOS, in the IVF (absconder)
        ("033333333", "N", False),  # not in custody
        ("011111112", "Y", False),  # OOS, not REM, not in the IVF
    ],
)
async def test_iaq_in_custody_lodges_detainer(
    lesc: Lesc, arn: str, cus: str, detainer: bool
) -> None:
    gateway = await lesc.start()
    sender = agency(gateway, "CA")
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq(sender, arn=arn, cus=cus, control="D1"))
    _, iar = await ack_and_iar(client)
    assert ("DTN" in fields_of(iar)) is detainer
    if not detainer:
        assert await nothing_more(client)
        assert lesc.events("detainer.lodged") == []
        return
    assert fields_of(iar)["DTN"] == "Y"
    notice, copy = await client.recv_many(2)
    assert (notice.message.dest, copy.message.dest) == (sender, "CAICE0000")
    for out in (notice, copy):
        assert out.message.mke == "AM" and out.message.control == "D1"
        assert out.message.body.startswith("IMMIGRATION DETAINER LODGED")
        assert fields_of(out)["ARN"] == f"A{arn}"
        assert fields_of(out)["LCN"] == fields_of(iar)["LCN"]
    # Asked again for the same subject: the detainer is in place, none is lodged twice.
    await client.send(iaq(sender, arn=arn, cus="Y"))
    _, again = await ack_and_iar(client)
    assert fields_of(again)["DTN"] == "Y"
    assert await nothing_more(client)
    assert len(lesc.events("detainer.lodged")) == 1


async def test_detainer_copy_goes_to_the_registry_ice_office(lesc: Lesc) -> None:
    registry = lesc.tmp_path / "lines.csv"
    registry.write_text(
        "line,key,ice_office_ori,control_ori\n"
        "CA,PLAIN-CA,AZICE0001,\n"
        "AZ,PLAIN-AZ,,\n"
    )
    gateway = await lesc.start(lines=registry, nics_ori="AZ0000000")
    ca = await lesc.connect(gateway, "CA", key="PLAIN-CA")
    az = await lesc.connect(gateway, "AZ", key="PLAIN-AZ")
    await ca.send(yq(CA))
    yr, notice = await ca.recv_many(2)
    assert fields_of(yr)["DTN"] == "Y" and notice.message.dest == CA
    copy = await az.recv()
    assert copy.message.dest == "AZICE0001"
    assert copy.message.body == notice.message.body


async def test_ice_office_on_no_line_stops_the_start(lesc: Lesc) -> None:
    registry = lesc.tmp_path / "lines.csv"
    registry.write_text("line,key,ice_office_ori,control_ori\nCA,PLAIN-CA,AZICE0001,\n")
    with pytest.raises(ValueError, match="line 2, column ice_office_ori: AZICE0001 is on line AZ"):
        await lesc.start(lines=registry)
