"""SIGTERM: stop accepting, answer or journal what is in flight, tell every line with an SM,
flush the journal and exit 0 (issue 6)."""

import asyncio
import socket
import sqlite3

from gateway_process import GatewayProcess
from messages import am, iaq
from reliability_tools import LoadLine

from formats.framing import encode_frame
from formats.message import parse_input
from gateway.app import SM_SHUTDOWN

CA = "CA0000000"


async def test_sigterm_tells_lines_and_loses_nothing(process: GatewayProcess) -> None:
    process.start()
    ca = await LoadLine.connect(process.port, "CA")
    tx = await LoadLine.connect(process.port, "TX")
    ca.send_nowait([iaq(CA, arn="012345678", control=f"T{n}") for n in range(400)])
    ca.send_nowait([am(CA, "TX", text=f"BYE {n}", control=f"A{n}") for n in range(100)])
    await ca.writer.drain()
    await ca.wait_outputs(50)
    assert process.terminate() == 0
    for client in (ca, tx):
        await asyncio.wait_for(client.closed.wait(), 10)
        last = client.outputs[-1].message
        assert (last.mke, last.sender, last.body) == ("SM", "NL0000000", SM_SHUTDOWN)
        assert last.dest == f"{client.line}0000000"
        seqs = [o.seq for o in client.outputs]
        assert seqs == list(range(1, len(seqs) + 1))
    before = {line: list(c.outputs) for line, c in (("CA", ca), ("TX", tx))}
    await ca.close()
    await tx.close()

    events = [e.get("event") for e in process.events()]
    assert "gateway.stopping" in events and "gateway.stopped" in events
    db = sqlite3.connect(process.data_dir / "journal.sqlite3")
    inputs = db.execute("SELECT text, processed FROM inputs").fetchall()
    db.close()
    # Everything the gateway took in was answered before it exited.
    assert inputs and all(processed == 1 for _, processed in inputs)

    process.start()
    ca = await LoadLine.connect(process.port, "CA")
    tx = await LoadLine.connect(process.port, "TX")
    got: dict[str, set[str]] = {}
    for line, client in (("CA", ca), ("TX", tx)):
        await client.quiet(1.0)
        outputs = before[line] + client.outputs
        for output in outputs:
            got.setdefault(output.message.control or "", set()).add(output.message.mke)
        # Sequence numbers go on after the restart without a gap.
        assert sorted({o.seq for o in outputs}) == list(range(1, max(o.seq for o in outputs) + 1))
    for text, _ in inputs:
        msg = parse_input(text)
        assert got[msg.control or ""] >= ({"AM", "IAR"} if msg.mke == "IAQ" else {"AM"}), text
    await ca.close()
    await tx.close()


async def test_sigterm_with_a_line_that_never_reads(process: GatewayProcess) -> None:
    process.start()
    # A line whose socket reads nothing: shutdown waits for it no longer than its grace.
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", process.port))
    stuck.sendall(encode_frame("SIGNON.TX.DEV-TX"))
    assert stuck.recv(100).startswith(b"\x02SIGNON OK TX")
    ca = await LoadLine.connect(process.port, "CA")
    big = "X" * 8000
    await ca.send(*[am(CA, "TX", text=big, control=f"B{n}") for n in range(60)])
    # Inputs are answered in order: once this IAQ is answered, the AMs were taken.
    await ca.send(iaq(CA, arn="012345678"))
    await ca.wait_outputs(2)
    assert process.terminate() == 0
    stuck.close()
    await asyncio.wait_for(ca.closed.wait(), 10)
    assert ca.outputs[-1].message.body == SM_SHUTDOWN
    await ca.close()
    # The messages for the stuck line are kept for its next sign-on.
    process.start()
    tx = await LoadLine.connect(process.port, "TX")
    outputs = await tx.wait_outputs(60)
    assert [o.message.control for o in outputs[:60]] == [f"B{n}" for n in range(60)]
    await tx.close()
