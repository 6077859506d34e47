"""Peers the benchmark sets beside the gateway: an HL7 MLLP ACK server and a framed echo server.

``python -m simulator.peers mllp|echo`` listens on a free loopback port, prints
``port N`` and serves until SIGTERM. The MLLP server is python-hl7's own asyncio server
answering every message with ``create_ack()``; the echo server sends every STX/ETX frame
straight back, the most any framed server can do per message (the ceiling).
"""

import asyncio
import contextlib
import signal
import sys

import uvloop

ETX = b"\x03"


async def _mllp_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            message = await reader.readmessage()  # type: ignore[attr-defined]
            writer.writemessage(message.create_ack())  # type: ignore[attr-defined]
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


class FramedEcho(asyncio.Protocol):
    """Sends every complete STX/ETX frame back as it is."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Echo up to the last ETX; keep the partial frame after it."""
        data = self._buffer + data
        end = data.rfind(ETX) + 1
        self._buffer = data[end:]
        if end and self._transport is not None:
            self._transport.write(data[:end])


async def _serve(kind: str) -> None:
    loop = asyncio.get_running_loop()
    server: asyncio.Server
    if kind == "mllp":
        from hl7.mllp import start_hl7_server

        server = await start_hl7_server(_mllp_client, "127.0.0.1", 0)
    else:
        server = await loop.create_server(FramedEcho, "127.0.0.1", 0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
    server.close()


def main() -> None:
    """Run the peer named on the command line."""
    if len(sys.argv) != 2 or sys.argv[1] not in ("mllp", "echo"):
        print("usage: python -m simulator.peers mllp|echo", file=sys.stderr)
        raise SystemExit(2)
    uvloop.run(_serve(sys.argv[1]))


if __name__ == "__main__":
    main()
