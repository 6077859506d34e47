"""An asyncio state switch line: signs on, sends inputs, reads outputs, acknowledges them."""

import asyncio
import contextlib
import ssl

from formats.line_protocol import (
    TEXT,
    Ack,
    Codec,
    Event,
    Heartbeat,
    Input,
    LineProtocol,
    Received,
    Role,
    SignOnAccepted,
    SignOnRefused,
    SignOnRequest,
    Unreadable,
    Violation,
)
from routing.lines import dev_key


class SignOnRejected(Exception):
    """The gateway refused the sign-on; the message is its reason."""


class LineClient:
    """One line's connection to the gateway (TCP or TLS); frames it cannot read are skipped.

    ``codec`` reads the outputs: the line's registry format (``formats.nlets_xml.XML`` for an
    XML line). Inputs go as the caller writes them, either form.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        line: str,
        auto_ack: bool = True,
        codec: Codec = TEXT,
    ) -> None:
        self.line = line
        self.auto_ack = auto_ack
        self.last_ack = 0
        self._reader = reader
        self._writer = writer
        self._protocol = LineProtocol(Role.LINE, codec=codec)
        # Outputs in order of arrival; None once the gateway has closed the connection.
        self._outputs: asyncio.Queue[Received | None] = asyncio.Queue()
        self._pump_task: asyncio.Task[None] | None = None
        self.heartbeats = 0
        self.heartbeat_answers = 0

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
        codec: Codec = TEXT,
    ) -> "LineClient":
        """Connect and sign on; raises SignOnRejected with the gateway's reason."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls), timeout
        )
        client = cls(reader, writer, line, auto_ack, codec)
        await client.send_raw(client._protocol.send(SignOnRequest(line, key or dev_key(line))))
        answer = await client._signon_answer(timeout)
        if isinstance(answer, SignOnRefused):
            writer.close()
            raise SignOnRejected(answer.reason)
        client.last_ack = answer.last_ack
        client._pump_task = asyncio.create_task(client._pump())
        return client

    async def _signon_answer(self, timeout: float) -> SignOnAccepted | SignOnRefused:
        while True:
            data = await asyncio.wait_for(self._reader.read(65536), timeout)
            if not data:
                raise ConnectionError("gateway closed the connection")
            events = self._protocol.receive_data(data)
            for index, event in enumerate(events):
                if isinstance(event, SignOnAccepted | SignOnRefused):
                    self._take(events[index + 1 :])
                    return event
                if isinstance(event, Unreadable | Violation):
                    raise ConnectionError(f"bad sign-on answer from gateway: {event.reason}")

    async def _pump(self) -> None:
        try:
            while data := await self._reader.read(65536):
                self._take(self._protocol.receive_data(data))
        except (ConnectionError, OSError):
            pass
        finally:
            self._outputs.put_nowait(None)

    def _take(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Received):
                self._outputs.put_nowait(event)
            elif isinstance(event, Heartbeat):
                # Answer the gateway's probes, never the answer to our own.
                if event.probe:
                    self.heartbeats += 1
                    self._writer.write(self._protocol.send(Heartbeat(probe=False)))
                else:
                    self.heartbeat_answers += 1

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (for framing tests)."""
        self._writer.write(data)
        await self._writer.drain()

    async def send(self, text: str) -> None:
        """Send one framed text."""
        await self.send_raw(self._protocol.send(Input(text)))

    async def heartbeat(self) -> None:
        """Probe the gateway with HB; its answer counts in ``heartbeat_answers``."""
        await self.send_raw(self._protocol.send(Heartbeat(probe=True)))

    async def recv(self, timeout: float = 10.0) -> Received:
        """The next output; acknowledged at once when ``auto_ack``."""
        received = await asyncio.wait_for(self._outputs.get(), timeout)
        if received is None:
            self._outputs.put_nowait(None)
            raise ConnectionError("gateway closed the connection")
        if self.auto_ack:
            await self.ack(received.seq)
        return received

    async def recv_many(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The next ``count`` outputs."""
        return [await self.recv(timeout) for _ in range(count)]

    async def ack(self, seq: int) -> None:
        """Acknowledge every output up to ``seq``."""
        self.last_ack = max(self.last_ack, seq)
        await self.send_raw(self._protocol.send(Ack(seq)))

    async def closed(self, timeout: float = 10.0) -> bool:
        """Wait until the gateway closes the connection; True when it did."""
        try:
            while True:
                if await asyncio.wait_for(self._outputs.get(), timeout) is None:
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
