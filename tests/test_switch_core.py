"""The switch core end to end over real TCP on loopback (issue 2)."""

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable

import pytest
from messages import am, field_lines, iaq

from formats.framing import encode_frame
from formats.message import format_input
from formats.notices import parse_er_body
from gateway.app import Gateway
from simulator.client import LineClient, SignOnRejected

Connect = Callable[..., Awaitable[LineClient]]

CA = "CA0000000"
TX = "TX0000000"


def agency(gateway: Gateway, line: str) -> str:
    """An ordinary agency ORI on the line (not its control or ICE ORI)."""
    return next(o.ori for o in gateway.oris.by_line(line) if not o.ori.endswith("0000"))


async def expect_er(client: LineClient, code: str) -> str:
    """Read one output, check it is an ER with ``code``, return its detail line."""
    out = await client.recv()
    assert out.message.mke == "ER", out.text
    assert out.message.sender == "NL0000000"
    er_code, detail, _ = parse_er_body(out.message.body)
    assert er_code == code, out.text
    return detail


async def test_signon_accepted_reports_last_ack(gateway: Gateway, connect: Connect) -> None:
    client = await connect("CA")
    assert client.last_ack == 0
    await client.heartbeat()
    # A message sent after the probe is answered after it: by the time its answer arrives,
    # the HB answer has too, and any HB the gateway sent back in return would have as well.
    ori = agency(gateway, "CA")
    await client.send(format_input("AM", ori, [ori], "AFTER THE PROBE"))
    assert (await client.recv()).message.body == "AFTER THE PROBE"
    # Answered once, and the answer is not answered again.
    assert client.heartbeat_answers == 1
    assert client.heartbeats == 0


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [("CA", "WRONG", "INVALID KEY"), ("ZZ", "DEV-ZZ", "UNKNOWN LINE")],
)
async def test_signon_rejected(gateway: Gateway, line: str, key: str, reason: str) -> None:
    with pytest.raises(SignOnRejected, match=reason):
        await LineClient.connect("127.0.0.1", gateway.port, line, key)


async def test_first_frame_must_be_signon(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(encode_frame(am(CA, "TX")))
    data = await asyncio.wait_for(reader.read(1000), 5)
    assert b"SIGNON REJECTED SIGNON REQUIRED" in data
    assert await asyncio.wait_for(reader.read(1000), 5) == b""
    writer.close()


async def test_silent_connection_closed_after_signon_timeout(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(signon_timeout=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    assert await asyncio.wait_for(reader.read(1000), 5) == b""
    writer.close()


async def test_idle_session_closed(start_gateway: Callable[..., Awaitable[Gateway]]) -> None:
    gateway = await start_gateway(idle_timeout=0.4, heartbeat_interval=10)
    client = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    assert await client.closed(timeout=5)
    await client.close()


async def test_gateway_heartbeat_keeps_answering_line_open(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(idle_timeout=1.0, heartbeat_interval=0.2)
    client = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    # The client answers each gateway HB, so it is never idle for a whole second.
    assert not await client.closed(timeout=2.0)
    assert client.heartbeats >= 2
    await client.close()


async def test_new_signon_replaces_old_session(gateway: Gateway, connect: Connect) -> None:
    first = await connect("CA")
    second = await connect("CA")
    assert await first.closed(timeout=5)
    await second.send(am(CA, "CA", text="TO MYSELF"))
    out = await second.recv()
    assert out.message.mke == "AM" and out.message.body == "TO MYSELF"


async def test_iaq_by_a_number(gateway: Gateway, connect: Connect) -> None:
    sender = agency(gateway, "CA")
    client = await connect("CA")
    await client.send(iaq(sender, arn="A012345678", nam="WRONG, NAME", control="CASE-1"))
    ack, iar = await client.recv_many(2)
    assert ack.message.mke == "AM" and ack.message.sender == "VTINS07S0"
    assert ack.message.dest == sender and ack.message.control == "CASE-1"
    assert "LESC ACKNOWLEDGES RECEIPT OF IAQ. LESC CONTROL NUMBER" in ack.message.body
    control_number = ack.message.body.rsplit(" ", 1)[1]
    assert len(control_number) == 10 and control_number.isdigit()
    assert iar.message.mke == "IAR" and iar.message.sender == "VTINS07S0"
    fields = field_lines(iar.message.body)
    assert fields["STS"] == "LPR"
    assert fields["ARN"] == "A012345678"
    assert fields["LCN"] == control_number
    assert fields["NAM"] == "WRONG, NAME"  # echoed as queried
    assert fields["COA"] == "IR1" and fields["SDT"] == "20100501"
    assert iar.message.control == "CASE-1"
    assert (ack.seq, iar.seq) == (1, 2)
    assert ack.message.in_seq == iar.message.in_seq == 1


@pytest.mark.parametrize(
    ("nam", "dob", "sex", "status"),
    [
        ("GARCIA, MARIA", "031485", "F", "LPR"),  # name + MMDDYY DOB
        ("SMYTH, JOHN", "19800202", "M", "MLT"),  # Soundex: SMYTHE JOHN and SMITH JAMES
        ("NGUYEN, THANH", "19900707", "M", "MLT"),
        ("DOE, JANE", "19900101", "F", "NRF"),
        ("LOPEZ, CARLOS", "19750505", "U", "REM"),  # sex U does not filter
        ("GARCIA, MARIA", "19850314", "M", "NRF"),  # sex filters
    ],
)
async def test_iaq_by_name(
    gateway: Gateway, connect: Connect, nam: str, dob: str, sex: str, status: str
) -> None:
    client = await connect("TX")
    await client.send(iaq(TX, nam=nam, dob=dob, sex=sex))
    _, iar = await client.recv_many(2)
    fields = field_lines(iar.message.body)
    assert fields["STS"] == status, iar.text
    assert fields["DOB"] == dob
    if status in ("NRF", "MLT"):
        assert "ARN" not in fields


async def test_iaq_ivf_subject_carries_category_and_nic(gateway: Gateway, connect: Connect) -> None:
    client = await connect("TX")
    await client.send(iaq(TX, arn="033333333"))
    _, iar = await client.recv_many(2)
    fields = field_lines(iar.message.body)
    assert fields["IVF"] == "DEPORTED FELON" and fields["NIC"] == "I123456789"


async def test_iaq_via_lesc_ori_and_help_file(gateway: Gateway, connect: Connect) -> None:
    client = await connect("NY")
    await client.send(iaq("NY0000000", dest="VTINS07S0", arn="098765432"))
    _, iar = await client.recv_many(2)
    assert field_lines(iar.message.body)["STS"] == "USC"
    await client.send(am("NY0000000", "AXADMHELP", text="HELP"))
    help_file = await client.recv()
    assert help_file.message.sender == "VTINS07S0"
    assert help_file.message.body.startswith("LESC HELP FILE")


async def test_am_line_to_line(gateway: Gateway, connect: Connect) -> None:
    ca = await connect("CA")
    tx = await connect("TX")
    dest = agency(gateway, "TX")
    await ca.send(am(CA, dest, "NY", text="ATTENTION: WANTED SUBJECT IN CUSTODY", control="X1"))
    out = await tx.recv()
    assert out.message.mke == "AM" and out.message.sender == CA
    assert out.message.dest == dest and out.message.control == "X1"
    assert out.message.body == "ATTENTION: WANTED SUBJECT IN CUSTODY"
    # NY is not signed on: CA is told the switch will forward.
    sm = await ca.recv()
    assert sm.message.mke == "SM" and sm.message.sender == "NL0000000"
    assert sm.message.body.startswith(".02. USER OUT OF SERVICE FOR MSG TYPE, NLETS WILL FORWARD")
    ny = await connect("NY")
    stored = await ny.recv()
    assert stored.message.body == "ATTENTION: WANTED SUBJECT IN CUSTODY"
    assert stored.seq == 1


async def test_store_and_forward_in_order_then_ack(gateway: Gateway, connect: Connect) -> None:
    ca = await connect("CA")
    for n in range(5):
        await ca.send(am(CA, "WA", text=f"MESSAGE {n}"))
    assert [o.message.mke for o in await ca.recv_many(5)] == ["SM"] * 5
    wa = await connect("WA", auto_ack=False)
    got = await wa.recv_many(5)
    assert [o.message.body for o in got] == [f"MESSAGE {n}" for n in range(5)]
    assert [o.seq for o in got] == [1, 2, 3, 4, 5]
    await wa.ack(3)
    await wa.close()
    # Unacknowledged outputs come again, in order, after the next sign-on.
    wa = await connect("WA", auto_ack=False)
    assert wa.last_ack == 3
    again = await wa.recv_many(2)
    assert [o.seq for o in again] == [4, 5]
    assert [o.message.body for o in again] == ["MESSAGE 3", "MESSAGE 4"]
    await wa.ack(5)
    await ca.send(am(CA, "WA", text="LIVE"))
    live = await wa.recv()
    assert live.seq == 6 and live.message.body == "LIVE"


# ---- every ER number in the SPEC.md table ----


async def test_er_0_bad_header_charset_and_oversize(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(max_frame=1024)
    client = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    await client.send("HELLO THERE")
    await expect_er(client, "0")
    await client.send_raw(b"\x02AM.CA0000000.TX.TXT\nCAF\xc9\x03")
    await expect_er(client, "0")
    await client.send_raw(b"garbage outside frames" + b"\x02" + b"A" * 5000 + b"\x03")
    await expect_er(client, "0")
    # The session goes on.
    await client.send(iaq(CA, arn="012345678"))
    _, iar = await client.recv_many(2)
    assert field_lines(iar.message.body)["STS"] == "LPR"
    await client.close()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (am("TX0000000", "CA"), ".01."),  # sender not on this line
        (am("VTINS07S0", "CA"), ".01."),  # a service ORI
        (am("CA0000000", "TX", control="ELEVENCHARS"), ".01."),  # control too long
        (format_input("QW", CA, ["AX"], "NAM/DOE, JOHN.DOB/19800101."), ".02."),
        (format_input("YR", CA, ["AX"], "RTY/WP.NIC/I123456789."), ".02."),
        ("AM.CA0000000.TX\nNO MARKER HERE", ".03."),
        (iaq(CA, dob="02301980"), ".05."),
        (iaq(CA, dob=None), ".05."),
        (iaq(CA, pob=None), ".14."),
        (iaq(CA, atn="X" * 31), ".16."),
        (am(CA, "ZZ"), ".19."),
        (am(CA, "TX", "NY", "WA", "OR", "NV", "AZ"), ".19."),
        (iaq(CA, sex="Q"), ".22."),
    ],
)
async def test_er_numbers(gateway: Gateway, connect: Connect, text: str, code: str) -> None:
    client = await connect("CA")
    await client.send(text)
    detail = await expect_er(client, code)
    assert detail
    # The session goes on after every ER.
    await client.send(am(CA, "CA", text="STILL HERE"))
    assert (await client.recv()).message.body == "STILL HERE"


async def test_er_echoes_the_original_message(gateway: Gateway, connect: Connect) -> None:
    client = await connect("CA")
    text = iaq(CA, atn="X" * 40)
    await client.send(text)
    out = await client.recv()
    code, detail, original = parse_er_body(out.message.body)
    assert code == ".16." and "ATN" in detail
    assert original == text[:100]
    assert out.message.dest == CA


async def test_backlog_is_paged_in_order_while_live_traffic_arrives(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(backlog_page=50, write_buffer_limit=65536)
    ca = await LineClient.connect("127.0.0.1", gateway.port, "CA")
    filler = "X" * 2000
    stored = 3000  # about 6 MB: more than the loopback socket takes at once
    for n in range(stored):
        await ca.send(am(CA, "WA", text=f"STORED {n} {filler}"))
    assert len(await ca.recv_many(stored)) == stored  # the SMs
    wa = await LineClient.connect("127.0.0.1", gateway.port, "WA")
    # New traffic for WA while its backlog is still being paged in.
    for n in range(10):
        await ca.send(am(CA, "WA", text=f"LIVE {n}"))
    got = await wa.recv_many(stored + 10, timeout=30)
    assert [o.seq for o in got] == list(range(1, stored + 11))
    bodies = [o.message.body.split(" ")[:2] for o in got]
    assert bodies == [["STORED", str(n)] for n in range(stored)] + [
        ["LIVE", str(n)] for n in range(10)
    ]
    await ca.close()
    await wa.close()
    gateway.journal.flush()
    db = sqlite3.connect(gateway.settings.journal_path)
    paged_live = db.execute(
        "SELECT COUNT(*) FROM audit WHERE event = 'delivered' AND line = 'WA'"
        " AND outcome = 'signon' AND out_seq > ?",
        (stored,),
    ).fetchone()[0]
    db.close()
    # The live messages came while WA was catching up, so the pager delivered them.
    assert paged_live == 10
