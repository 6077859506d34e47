"""Fuzzing through a live session (issue 6): valid and mutated frames of every kind go to a
real gateway process; it never crashes or hangs, answers every bad frame with the ER the
sans-IO parsers name, answers every HB once, and still answers a valid IAQ afterwards."""

import random
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from gateway_process import GatewayProcess
from hypothesis import given, settings
from hypothesis import strategies as st
from messages import am, field_lines, iaq
from reliability_strategies import LINE, SENDER, mutate, payloads, seed_texts
from reliability_tools import record_figure

from formats.control import Ack, Heartbeat, SignOn, format_ack, parse_control
from formats.errors import MessageError
from formats.framing import DEFAULT_MAX_TEXT, BadFrame, Frame, FrameDecoder, encode_frame
from formats.nlets_xml import read_input
from formats.notices import parse_er_body
from formats.output import SEQ_WRAP, OutputMessage, parse_output
from gateway.datafiles import load_lines, load_oris, reserved_oris
from gateway.switch import MAX_DESTINATIONS, YQ_MAX_DESTINATIONS
from responders.registry import installed, service_table
from routing.resolve import Router

HANG = 20.0  # seconds without the sentinel's answer that count as a hang
# Routed as the gateway routes: the installed services' destinations and reserved ORIs.
TABLE = service_table(installed())
RESERVED = reserved_oris(TABLE)
LINES = load_lines(None, RESERVED)
ROUTER = Router(LINES, load_oris(None, LINES.codes, RESERVED), TABLE.destinations, RESERVED)


def expected_errors(frame: Frame | BadFrame) -> list[str]:
    """The ER numbers the switch must answer a journaled frame with and nothing else, or []
    when the frame passes framing, header, sender checks and has a destination that resolves
    (its pipeline decides)."""
    if isinstance(frame, BadFrame):
        return ["0"]
    try:
        control = parse_control(frame.text)
    except MessageError:
        return ["0"]
    if isinstance(control, SignOn):
        return ["0"]
    try:
        # Read as the switch reads: legacy text, or Nlets XML when it starts with '<'.
        msg = read_input(frame.text)
        ROUTER.check_sender(LINE, msg.sender)
        limit = YQ_MAX_DESTINATIONS if msg.mke == "YQ" else MAX_DESTINATIONS
        resolution = ROUTER.resolve_all(msg.dests, limit)
    except MessageError as exc:
        return [str(exc.code)]
    # No destination resolves: one ER for each of them.
    return [] if resolution.destinations else [str(e.code) for e in resolution.rejected]


@dataclass
class Tally:
    """What a fuzz run sent and what came back."""

    frames: int = 0
    journaled: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    heartbeats: int = 0


class FuzzLine:
    """A blocking line client that sends raw payloads and checks every answer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=HANG)
        self.mirror = FrameDecoder(DEFAULT_MAX_TEXT)
        self.decoder = FrameDecoder(DEFAULT_MAX_TEXT * 4)
        self.in_seq = 0
        self.out_seq = 0
        self.sentinels = 0
        self.tally = Tally()
        self.sock.sendall(encode_frame(f"SIGNON.{LINE}.DEV-{LINE}"))
        reply = self._frames()
        assert reply[0].startswith(f"SIGNON OK {LINE}"), reply

    def _frames(self) -> list[str]:
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("gateway closed the session")
            texts = [f.text for f in self.decoder.feed(data) if isinstance(f, Frame)]
            if texts:
                return texts

    def exchange(self, payloads: list[bytes]) -> list[OutputMessage]:
        """Send payloads, each in STX/ETX, then a sentinel AM; check what comes back."""
        self.sentinels += 1
        control = f"Z{self.sentinels}"
        stream = b"".join(b"\x02" + p + b"\x03" for p in payloads)
        stream += encode_frame(am(SENDER, LINE, text="SENTINEL", control=control))
        # What the gateway's decoder will make of the stream, frame by frame.
        expected: dict[int, list[str]] = {}
        heartbeats = 0
        for frame in self.mirror.feed(stream):
            if isinstance(frame, Frame):
                try:
                    kind = parse_control(frame.text)
                except MessageError:
                    kind = None
                if isinstance(kind, Heartbeat):
                    heartbeats += 1
                    continue
                if isinstance(kind, Ack):
                    continue
            self.in_seq += 1
            codes = expected_errors(frame)
            if codes:
                expected[self.in_seq] = codes
        self.sock.sendall(stream)

        outputs: list[OutputMessage] = []
        answered_hb = 0
        deadline = time.monotonic() + HANG
        while not any(o.control == control for o in outputs):
            assert time.monotonic() < deadline, "no answer to the sentinel: hang"
            for text in self._frames():
                if text == "HB":
                    answered_hb += 1
                    continue
                out = parse_output(text)
                self.out_seq += 1
                assert out.out_seq == self.out_seq % SEQ_WRAP, "gap in output sequence"
                outputs.append(out)
        self.sock.sendall(encode_frame(format_ack(self.out_seq)))
        # Every input was journaled under the number the mirror gave it ...
        assert outputs[-1].in_seq == self.in_seq % SEQ_WRAP
        # ... every bad frame got its ER and nothing else, every HB one answer.
        by_seq: dict[int, list[OutputMessage]] = defaultdict(list)
        for out in outputs:
            by_seq[out.in_seq].append(out)
        for seq, codes in expected.items():
            got = by_seq[seq % SEQ_WRAP]
            assert [o.mke for o in got] == ["ER"] * len(codes), (seq, codes, got)
            assert [parse_er_body(o.body)[0] for o in got] == codes, (seq, codes, got)
            for code in codes:
                self.tally.errors[code] += 1
        assert answered_hb == heartbeats
        self.tally.frames += len(payloads)
        self.tally.journaled = self.in_seq
        self.tally.heartbeats += heartbeats
        return outputs

    def still_answers_iaq(self) -> None:
        """A valid IAQ after the fuzzing is answered with the LESC acknowledgement and IAR."""
        control = f"Y{self.sentinels}"
        outputs = self.exchange([iaq(SENDER, arn="012345678", control=control).encode()])
        answers = {o.mke: o for o in outputs if o.control == control}
        assert set(answers) >= {"AM", "IAR"}
        assert field_lines(answers["IAR"].body)["STS"] == "LPR"

    def close(self) -> None:
        """Hang up."""
        self.sock.close()


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(tmp_path_factory.mktemp("fuzz") / "data")
    try:
        yield proc.start()
        alive = proc.proc is not None and proc.proc.poll() is None
    finally:
        proc.stop()
    assert alive, "the gateway process died"


@pytest.fixture(scope="module")
def fuzz_line(fuzz_gateway: GatewayProcess) -> Iterator[FuzzLine]:
    line = FuzzLine(fuzz_gateway.port)
    yield line
    line.still_answers_iaq()
    line.close()


@settings(max_examples=300)
@given(st.lists(payloads, min_size=1, max_size=12))
def test_hypothesis_frames_through_a_live_session(
    fuzz_line: FuzzLine, frames: list[bytes]
) -> None:
    fuzz_line.exchange(frames)


def run_mutated(line: FuzzLine, total: int, seed: int, batch: int = 500) -> None:
    """``total`` mutated frames (one in five left valid) in batches, each batch checked."""
    rng = random.Random(seed)
    seeds = seed_texts(rng, 200)
    started = time.monotonic()
    sent = 0
    while sent < total:
        size = min(batch, total - sent)
        frames = [
            mutate(text, rng) if rng.random() < 0.8 else text.encode()
            for text in rng.choices(seeds, k=size)
        ]
        line.exchange(frames)
        sent += size
    line.still_answers_iaq()
    seconds = time.monotonic() - started
    record_figure("fuzz_live_session", frames=sent, journaled=line.tally.journaled,
                  errors=dict(line.tally.errors), heartbeats=line.tally.heartbeats,
                  frames_per_s=round(sent / seconds))


def test_mutated_frames_through_a_live_session(tmp_path: Path) -> None:
    proc = GatewayProcess(tmp_path / "data")
    try:
        line = FuzzLine(proc.start().port)
        run_mutated(line, 20_000, seed=6)
        line.close()
        assert sum(line.tally.errors.values()) > 5_000
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        proc.stop()


@pytest.mark.soak
@pytest.mark.timeout(1200)
def test_million_mutated_frames_soak(tmp_path: Path) -> None:
    proc = GatewayProcess(tmp_path / "data")
    try:
        line = FuzzLine(proc.start().port)
        run_mutated(line, 1_000_000, seed=66, batch=1000)
        line.close()
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        proc.stop()
