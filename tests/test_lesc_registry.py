"""The LESC's ORIs and the ORI registry's lines and authorizations, over real TCP (issue 12)."""

from pathlib import Path

from lesc_support import Lesc, fields_of, lesc_fixture, qw, yq  # noqa: F401
from messages import iaq

from formats.notices import parse_er_body


def registries(tmp_path: Path) -> dict[str, Path]:
    """A TX line and a federal FB line owning ORIs with WV and TX prefixes."""
    lines = tmp_path / "lines.csv"
    lines.write_text("line,key\nTX,DEV-TX\nFB,DEV-FB\n")
    oris = tmp_path / "oris.csv"
    oris.write_text(
        "ori,line,agency,chri\n"
        "TX0000000,TX,STATE CONTROL TERMINAL,\n"
        "TX2270100,TX,AUSTIN PD,\n"
        "TX2270200,TX,AUSTIN PARKING ENFORCEMENT,N\n"
        "WVFBINICS,FB,FBI NICS SECTION,\n"
        "TXFBIHQ00,FB,FBI FIELD OFFICE HOUSTON,Y\n"
    )
    return {"lines": lines, "oris": oris}


async def test_the_lesc_is_reached_as_vtice0900(lesc: Lesc) -> None:
    gateway = await lesc.start()
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq("CA0000000", dest="VTICE0900", arn="033333333"))
    ack, iar = await client.recv_many(2)
    assert (ack.message.mke, iar.message.mke) == ("AM", "IAR")
    assert fields_of(iar)["ARN"] == "A033333333"
    # Unless told, it still answers as VTINS07S0.
    assert {ack.message.sender, iar.message.sender} == {"VTINS07S0"}


async def test_lesc_ori_chooses_the_ori_it_sends_as(lesc: Lesc) -> None:
    gateway = await lesc.start(lesc_ori="VTICE0900")
    client = await lesc.connect(gateway, "CA")
    await client.send(iaq("CA0000000", arn="033333333", cus="Y"))
    outputs = await client.recv_many(4)  # acknowledgement, IAR, detainer notice and copy
    assert [out.message.mke for out in outputs] == ["AM", "IAR", "AM", "AM"]
    assert {out.message.sender for out in outputs} == {"VTICE0900"}
    assert outputs[2].message.body.endswith("LAW ENFORCEMENT SUPPORT CENTER AT VTICE0900.")
    await client.send(yq("CA0000000", "VTINS07S0"))
    yr = await client.recv()
    assert yr.message.mke == "YR" and yr.message.sender == "VTICE0900"


async def test_a_federal_line_sends_as_an_ori_of_another_state(
    lesc: Lesc, tmp_path: Path
) -> None:
    gateway = await lesc.start(**registries(tmp_path))
    federal = await lesc.connect(gateway, "FB")
    await federal.send(iaq("TXFBIHQ00", arn="033333333"))
    ack, iar = await federal.recv_many(2)
    assert (ack.message.dest, iar.message.dest) == ("TXFBIHQ00", "TXFBIHQ00")
    assert iar.message.mke == "IAR"
    # The TX line may not send as the federal agency's ORI.
    state = await lesc.connect(gateway, "TX")
    await state.send(iaq("TXFBIHQ00", arn="033333333"))
    er = await state.recv()
    assert er.message.mke == "ER" and parse_er_body(er.message.body)[0] == ".01."


async def test_an_ori_not_authorized_for_criminal_history_gets_er_02(
    lesc: Lesc, tmp_path: Path
) -> None:
    gateway = await lesc.start(**registries(tmp_path))
    client = await lesc.connect(gateway, "TX")
    for text in (
        iaq("TX2270200", arn="033333333"),
        qw("TX2270200", "LOPEZ, CARLOS", "19750505"),
        yq("TX2270200"),
    ):
        await client.send(text)
        er = await client.recv()
        assert er.message.mke == "ER" and er.message.dest == "TX2270200"
        assert parse_er_body(er.message.body)[0] == ".02."
        assert "NOT AUTHORIZED FOR CRIMINAL HISTORY" in er.message.body
    await client.send(iaq("TX2270100", arn="033333333"))
    assert (await client.recv()).message.mke == "AM"
