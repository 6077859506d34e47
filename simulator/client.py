"""An asyncio state switch line: signs on, sends inputs, reads outputs, acknowledges them."""

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from formats.control import (
    HEARTBEAT,
    format_ack,
    format_signon,
    parse_signon_reply,
)
from formats.framing import BadFrame, FrameDecoder, encode_frame
from formats.output import SEQ_WRAP, OutputMessage, parse_output
from routing.lines import dev_key


class SignOnRejected(Exception):
    """The gateway refused the sign-on; the message is its reason."""


@dataclass(frozen=True, slots=True)
class Received:
    """An output as the line received it, with its full sequence number."""

    seq: int
    message: OutputMessage
    text: str


def full_seq(last: int, wrapped: int) -> int:
    """The full sequence number of a 5-digit header number that follows ``last``."""
    return last + (wrapped - last) % SEQ_WRAP


class LineClient:
    """One line's connection to the gateway (TCP or TLS)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        line: str,
        auto_ack: bool = True,
    ) -> None:
        self.line = line
        self.auto_ack = auto_ack
        self.last_ack = 0
        self.last_seq = 0
        self._reader = reader
        self._writer = writer
        self._decoder = FrameDecoder()
        self._frames: asyncio.Queue[str] = asyncio.Queue()
        self._pump_task: asyncio.Task[None] | None = None
        self.heartbeats = 0
        self.heartbeat_answers = 0
        self._hb_outstanding = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        line: str,
        key: str | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        auto_ack: bool = True,
        timeout: float = 10.0,
    ) -> "LineClient":
        """Connect and sign on; raises SignOnRejected with the gateway's reason."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls), timeout
        )
        client = cls(reader, writer, line, auto_ack)
        await client.send_raw(encode_frame(format_signon(line, key or dev_key(line))))
        reply = await client._next_frame(timeout)
        accepted, detail, last_ack = parse_signon_reply(reply)
        if not accepted:
            writer.close()
            raise SignOnRejected(detail)
        client.last_ack = client.last_seq = last_ack
        client._pump_task = asyncio.create_task(client._pump())
        return client

    async def _next_frame(self, timeout: float) -> str:
        while True:
            data = await asyncio.wait_for(self._reader.read(65536), timeout)
            if not data:
                raise ConnectionError("gateway closed the connection")
            frames = self._decoder.feed(data)
            for frame in frames:
                if isinstance(frame, BadFrame):
                    raise ConnectionError(f"bad frame from gateway: {frame.reason}")
                self._frames.put_nowait(frame.text)
            if not self._frames.empty():
                return self._frames.get_nowait()

    async def _pump(self) -> None:
        try:
            while data := await self._reader.read(65536):
                for frame in self._decoder.feed(data):
                    if isinstance(frame, BadFrame):
                        continue
                    if frame.text == HEARTBEAT:
                        # Answer the gateway's probes, never the answer to our own.
                        if self._hb_outstanding:
                            self._hb_outstanding = False
                            self.heartbeat_answers += 1
                        else:
                            self.heartbeats += 1
                            self._writer.write(encode_frame(HEARTBEAT))
                        continue
                    self._frames.put_nowait(frame.text)
        except (ConnectionError, OSError):
            pass
        finally:
            self._frames.put_nowait("")

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (for framing tests)."""
        self._writer.write(data)
        await self._writer.drain()

    async def send(self, text: str) -> None:
        """Send one framed text."""
        await self.send_raw(encode_frame(text))

    async def heartbeat(self) -> None:
        """Probe the gateway with HB; its answer counts in ``heartbeat_answers``."""
        self._hb_outstanding = True
        await self.send(HEARTBEAT)

    async def recv(self, timeout: float = 10.0) -> Received:
        """The next output; acknowledged at once when ``auto_ack``."""
        text = await asyncio.wait_for(self._frames.get(), timeout)
        if not text:
            self._frames.put_nowait("")
            raise ConnectionError("gateway closed the connection")
        message = parse_output(text)
        seq = full_seq(self.last_seq, message.out_seq)
        self.last_seq = seq
        if self.auto_ack:
            await self.ack(seq)
        return Received(seq, message, text)

    async def recv_many(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The next ``count`` outputs."""
        return [await self.recv(timeout) for _ in range(count)]

    async def ack(self, seq: int) -> None:
        """Acknowledge every output up to ``seq``."""
        self.last_ack = max(self.last_ack, seq)
        await self.send(format_ack(seq))

    async def closed(self, timeout: float = 10.0) -> bool:
        """Wait until the gateway closes the connection; True when it did."""
        try:
            while True:
                text = await asyncio.wait_for(self._frames.get(), timeout)
                if not text:
                    return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Close the connection."""
        if self._pump_task is not None:
            self._pump_task.cancel()
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
