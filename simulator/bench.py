"""``make bench``: the figures in docs/benchmarks.md.

The gateway runs as its own process pinned to one core; the load comes from this process on
another core, with a lean client that counts frames instead of parsing them, so the client is
not what is measured.
"""

import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from statistics import median

import orjson
import uvloop
from lxml import etree

from formats.control import format_ack, format_signon
from formats.framing import encode_frame
from formats.iaq import parse_iaq
from formats.message import format_fields, format_input, parse_input
from formats.nlets_xml import parse_xml_input, text_to_xml
from formats.nlets_xml.document import PARSER
from gateway.datafiles import DEFAULT_LINES, load_oris
from responders.lesc.index import sidecar_path
from routing.lines import dev_key
from simulator.bench_hits import HitFigures, open_hits
from simulator.bench_mqtt import bench_mqtt
from simulator.report import Report
from simulator.simulate import Simulation, SimulationOptions
from simulator.switches import parse_target
from simulator.traffic import (
    TrafficData,
    TrafficGenerator,
    agencies_by_line,
    busiest_lines,
    subjects_from_index,
)

BENCH_DATA = Path("data/bench")
BENCH_RECORDS = 1_000_000
BENCH_INDEX = BENCH_DATA / f"index-synthetic-{BENCH_RECORDS}.sqlite3"
PROFILE_LINES = 90
LOW_RATE = 1000
# How many times the gateway and the MLLP peer are driven in turn (bench_pairs).
PAIRS = 3
# In a pair the gateway's run sends this many times the IAQs the MLLP peer's run sends
# requests: the gateway answers about four times as many a second, so the two runs last
# about as long (some eight seconds each), and a slow spell of the host weighs on both alike.
# With the same count the gateway's run lasted a quarter of the peer's, and a spell of a few
# seconds could cover all of it and only part of the peer's (docs/benchmarks.md, round 23).
GATEWAY_RUN = 4
LINES = ("AL", "AZ", "CA", "CO", "FL", "GA", "IL", "MA", "MI", "NJ", "NY", "OH", "PA",
         "TX", "VA", "WA")
# The lines the open loop sends on, and how many of its IAQs' bodies the closed loop sends.
OPEN_LOOP_LINES = 50
OPEN_LOOP_BODIES = 5000
# The latency runs' warm-up: IAQs at the run's rate for this long, drawn with another seed
# than the timed run's (seed 1), on the same gateway just before it.
WARM_UP_SECONDS = 1.0
_WARM_UP_SEED = 2
_IAR_START = b"\x02IAR."
# The bytes of a read kept for the next (count_iars).
_EDGE = len(_IAR_START) - 1


def sample_iaq(sender: str, n: int) -> str:
    """An IAQ that exercises the name search (no A-number)."""
    fields = {
        "PUR": "C", "ATN": "DET SMITH", "PHN": "916-555-0100",
        "NAM": f"GARCIA, MARIA {chr(65 + n % 26)}", "DOB": f"{1950 + n % 50}0314",
        "SEX": "F", "POB": "MX", "CUS": "N", "OFF": "0399",
    }
    return format_input("IAQ", sender, ["AX"], format_fields(fields), f"B{n % 100000}")


def bench_parse(count: int = 200_000) -> float:
    """IAQ parse + field split + validation per second on one core."""
    texts = [sample_iaq("CA0000000", n) for n in range(1000)]
    today = date(2026, 11, 23)
    start = time.perf_counter()
    for n in range(count):
        parse_iaq(parse_input(texts[n % 1000]).body, today)
    return count / (time.perf_counter() - start)


def bench_xml_parse(count: int = 100_000) -> float:
    """The same IAQs as Nlets XML: parse (hardened lxml, header, tagged fields) + field split +
    validation per second on one core."""
    texts = [text_to_xml(sample_iaq("CA0000000", n)) for n in range(1000)]
    today = date(2026, 11, 23)
    start = time.perf_counter()
    for n in range(count):
        parse_iaq(parse_xml_input(texts[n % 1000]).body, today)
    return count / (time.perf_counter() - start)


def bench_lxml_parse(count: int = 100_000) -> float:
    """lxml's own parse of the same XML IAQs with the same parser, nothing read from the
    tree: the floor under the XML figure."""
    texts = [text_to_xml(sample_iaq("CA0000000", n)) for n in range(1000)]
    start = time.perf_counter()
    for n in range(count):
        etree.fromstring(texts[n % 1000].encode(), PARSER)
    return count / (time.perf_counter() - start)


HL7_QUERY = (
    "MSH|^~\\&|CAJUSTICE|CA0000000|LESC|VTINS07S0|20261123140200||QBP^Q22^QBP_Q21|B{n}|P|2.5.1\r"
    "QPD|Q22^Find Candidates^HL7|Q{n}|@PID.5.1^GARCIA~@PID.5.2^MARIA~@PID.7^19850314"
    "~@PID.8^F~@PID.11.6^MX\r"
    "RCP|I|10^RD"
)


def bench_hl7_parse(count: int = 50_000) -> float:
    """python-hl7's ``hl7.parse`` per second on an HL7 v2 query of the same content as the IAQ."""
    import hl7

    texts = [HL7_QUERY.format(n=n) for n in range(1000)]
    start = time.perf_counter()
    for n in range(count):
        hl7.parse(texts[n % 1000])
    return count / (time.perf_counter() - start)


def bench_fix_parse(count: int = 100_000) -> float:
    """simplefix's parser per second on a FIX 4.4 NewOrderSingle of 15 fields."""
    import simplefix

    raws = []
    for n in range(1000):
        order = simplefix.FixMessage()
        for tag, value in ((8, "FIX.4.4"), (35, "D"), (49, "SENDER"), (56, "TARGET"), (34, n),
                           (52, "20261123-14:02:00.000")):
            order.append_pair(tag, value, header=True)
        for tag, value in ((11, f"ORD{n}"), (21, 1), (55, "IBM"), (54, 1), (38, 100), (40, 2),
                           (44, "123.45"), (59, 0)):
            order.append_pair(tag, value)
        raws.append(order.encode())
    parser = simplefix.FixParser()
    start = time.perf_counter()
    for n in range(count):
        parser.append_buffer(raws[n % 1000])
        parser.get_message()
    return count / (time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class Started:
    """A gateway process the benchmark started."""

    port: int
    pid: int
    start_s: float  # from spawn to gateway.started


def _memory_kib(pid: int, field: str) -> int:
    """VmRSS or VmHWM of a process, in KiB."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    return 0


def xml_registry(path: Path, xml: Iterable[str]) -> Path:
    """The shipped line registry (its hashed development keys) with a ``format`` column that
    makes the ``xml`` lines XML lines; written to ``path``."""
    xml_lines = set(xml)
    rows = DEFAULT_LINES.read_text().splitlines()
    written = [rows[0] + ",format"]
    written += [f"{row},{'xml' if row.split(',', 1)[0] in xml_lines else 'text'}"
                for row in rows[1:] if row]
    path.write_text("\n".join(written) + "\n")
    return path


@contextmanager
def gateway_process(cpu: int = 0, profile: Path | None = None,
                    technician: str = "off", xml: Iterable[str] = (),
                    under: Sequence[str] = (),
                    env: Mapping[str, str] | None = None) -> Iterator[Started]:
    """Start ``iaqgw serve`` pinned to one core on a fresh journal and the 1M-record index.

    ``technician`` is the simulated technician's delay kind: ``off`` leaves enhanced
    responses to an operator, so each IAQ has exactly two outputs (acknowledgement, IAR).
    The lines in ``xml`` are registered as XML lines (``--lines`` with the format column).
    ``under`` runs the interpreter under another program (valgrind); ``env`` adds to the
    gateway's environment.
    """
    work = Path(tempfile.mkdtemp(prefix="iaqgw-bench-"))
    (work / BENCH_INDEX.name).symlink_to(BENCH_INDEX.resolve())
    log_path = work / "gateway.log"
    wrapper = [*under, sys.executable, "-m"]
    if profile is not None:
        wrapper += ["pyinstrument", "-r", "text", "-o", str(profile), "-m"]
    registry = ["--lines", str(xml_registry(work / "lines.csv", xml))] if xml else []
    with log_path.open("wb") as log:
        begun = time.perf_counter()
        proc = subprocess.Popen(
            [*wrapper, "gateway", "serve", "--port", "0", "--data-dir", str(work),
             "--synthetic-records", str(BENCH_RECORDS), *registry],
            stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
            env={**os.environ, "IAQGW_TECHNICIAN_DELAY": technician,
                 "IAQGW_TECHNICIAN_DELAY_MEAN": "0", **(env or {})},
        )
    try:
        started = None
        deadline = time.monotonic() + 300
        while started is None and time.monotonic() < deadline:
            time.sleep(0.005)
            for line in log_path.read_bytes().splitlines():
                if b"gateway.started" in line:
                    port = int(orjson.loads(line)["port"])
                    started = Started(port, proc.pid, time.perf_counter() - begun)
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text()[-2000:])
        if started is None:
            raise TimeoutError("the gateway did not start")
        yield started
    finally:
        proc.terminate()
        try:
            # Under the profiler the exit includes rendering the profile.
            proc.wait(300 if profile is not None else 60)
        except subprocess.TimeoutExpired:
            print("warning: the gateway did not stop within a minute of SIGTERM; killed. Its log"
                  f" ends:\n{log_path.read_text()[-1500:]}", file=sys.stderr)
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def peer_process(kind: str, cpu: int = 0) -> Iterator[int]:
    """Start a benchmark peer (``mllp`` or ``echo``) pinned to one core; yield its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.peers", kind], stdout=subprocess.PIPE,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline().split()[1])
    finally:
        proc.terminate()
        proc.wait(30)


async def _sign_on(port: int, line: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                                 int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_frame(format_signon(line, dev_key(line))))
    reply = await reader.readuntil(b"\x03")
    if not reply.startswith(b"\x02SIGNON OK"):
        raise ConnectionError(f"{line}: {reply.strip(bytes([2, 3])).decode()}")
    return reader, writer, int(reply.strip(b"\x02\x03").split()[-1])


def count_iars(tail: bytes, data: bytes) -> tuple[int, bytes]:
    """The IAR frames that start in ``data``, one perhaps begun in ``tail`` (what the last
    call returned; empty at first), and the tail to pass with the next read."""
    count = data.count(_IAR_START) + (tail + data[:_EDGE]).count(_IAR_START)
    return count, (tail + data[-_EDGE:])[-_EDGE:]


async def _drive_line(session: tuple[asyncio.StreamReader, asyncio.StreamWriter, int],
                      line: str, count: int, window: int, xml: bool = False,
                      bodies: Sequence[str] = ()) -> int:
    reader, writer, last_ack = session
    sender = f"{line}0000000"
    if bodies:
        # Each line starts at its own place in the bodies: the lines ask about different
        # people at the same moment, as the open loop's do.
        first = LINES.index(line) * len(bodies) // len(LINES) if line in LINES else 0
        texts = [encode_frame(format_input("IAQ", sender, ["AX"],
                                           bodies[(first + n) % len(bodies)], f"B{n}"))
                 for n in range(min(count, len(bodies)))]
    else:
        # An XML line sends its IAQs as Nlets XML documents (and gets its outputs as XML).
        write = text_to_xml if xml else str
        texts = [encode_frame(write(sample_iaq(sender, n))) for n in range(min(count, 1000))]
    sent = received = answered = 0
    tail = b""
    while sent < min(window, count):
        writer.write(texts[sent % len(texts)])
        sent += 1
    while answered < count:
        data = await reader.read(1 << 16)
        if not data:
            raise ConnectionError(f"{line}: gateway closed")
        frames = data.count(b"\x03")
        received += frames
        if bodies:
            # Some of the mix's IAQs have a third output (a detainer's notice): the IARs
            # count.
            iars, tail = count_iars(tail, data)
            answered += iars
        else:
            # Each bench IAQ yields two outputs (acknowledgement and IAR).
            answered = received // 2
        more = min(count - sent, answered + window - sent)
        if more > 0:
            writer.write(b"".join(texts[(sent + i) % len(texts)] for i in range(more)))
            sent += more
        if frames:
            writer.write(encode_frame(format_ack(last_ack + received)))
    writer.close()
    return answered


async def _drive_peer(port: int, requests: list[bytes], end: bytes, count: int,
                      window: int) -> int:
    """The same load against a peer that answers each request once (``end`` closes a frame)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = received = 0
    while sent < min(window, count):
        writer.write(requests[sent % len(requests)])
        sent += 1
    while received < count:
        data = await reader.read(1 << 16)
        if not data:
            raise ConnectionError("peer closed")
        received += data.count(end)
        more = min(count - sent, received + window - sent)
        if more > 0:
            writer.write(b"".join(requests[(sent + i) % len(requests)] for i in range(more)))
            sent += more
    writer.close()
    return received


async def _end_to_end(port: int, per_line: int, window: int, peer: str | None = None,
                      xml: bool = False, signed_on: Callable[[], None] | None = None,
                      lines: Sequence[str] = LINES, bodies: Sequence[str] = ()) -> float:
    if peer is None:
        # Sign every line on first, so the timed part is traffic only.
        sessions = await asyncio.gather(*(_sign_on(port, line) for line in lines))
        if signed_on is not None:
            signed_on()
        start = time.perf_counter()
        done = await asyncio.gather(*(_drive_line(session, line, per_line, window, xml, bodies)
                                      for session, line in zip(sessions, lines, strict=True)))
        return sum(done) / (time.perf_counter() - start)
    if peer == "mllp":
        requests = [b"\x0b" + HL7_QUERY.format(n=n).encode() + b"\x1c\r" for n in range(1000)]
        end = b"\x1c\r"
    else:
        requests = [encode_frame(sample_iaq("CA0000000", n)) for n in range(1000)]
        end = b"\x03"
    start = time.perf_counter()
    done = await asyncio.gather(*(_drive_peer(port, requests, end, per_line, window)
                                  for _ in lines))
    return sum(done) / (time.perf_counter() - start)


def bench_end_to_end(per_line: int = 3000, window: int = 64, profile: Path | None = None,
                     xml: bool = False, bodies: Sequence[str] = ()) -> tuple[float, Started, int]:
    """End-to-end IAQ per second: 16 lines, ``window`` IAQs in flight on each; with ``xml``
    the 16 lines are XML lines, sending and getting Nlets XML; with ``bodies`` (text lines)
    the IAQs carry those bodies (:func:`open_loop_bodies`) instead of the bench's.

    Returns the rate, the gateway's start-up figures and its peak RSS in KiB.
    """
    with gateway_process(profile=profile, xml=LINES if xml else ()) as gateway:
        warm_up = _end_to_end(gateway.port, per_line // 10, window, xml=xml, bodies=bodies)
        uvloop.run(warm_up)
        rate = uvloop.run(_end_to_end(gateway.port, per_line, window, xml=xml, bodies=bodies))
        return rate, gateway, _memory_kib(gateway.pid, "VmHWM")


def bench_peer(kind: str, per_line: int = 3000, window: int = 64) -> float:
    """Requests per second a peer answers under the same client load."""
    with peer_process(kind) as port:
        uvloop.run(_end_to_end(port, per_line // 10, window, kind))
        return uvloop.run(_end_to_end(port, per_line, window, kind))


@dataclass(frozen=True)
class Pairs:
    """The gateway's end-to-end rate and a peer's under the same load, measured in turn."""

    gateway: list[float]
    peer: list[float]

    @property
    def ratios(self) -> list[float]:
        """Each pair's gateway rate over its peer's."""
        return [ours / theirs for ours, theirs in zip(self.gateway, self.peer, strict=True)]


def bench_pairs(kind: str, pairs: int = PAIRS, per_line: int = 3000,
                window: int = 64) -> tuple[Pairs, Started, int]:
    """The gateway and a peer, both running on the same core, driven in turn ``pairs`` times
    (gateway, peer, gateway, peer ...): a pair's two figures are seconds apart, so a change
    in the host's speed between them is small, and the median pair stands for the run. The
    gateway's runs send :data:`GATEWAY_RUN` times ``per_line`` IAQs a line, the peer's
    ``per_line``: about as long in seconds.

    Returns the pairs, the gateway's start-up figures and its peak RSS in KiB.
    """
    with gateway_process() as gateway, peer_process(kind) as port:
        uvloop.run(_end_to_end(gateway.port, per_line // 10, window))
        uvloop.run(_end_to_end(port, per_line // 10, window, kind))
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(pairs):
            ours.append(uvloop.run(_end_to_end(gateway.port, GATEWAY_RUN * per_line, window)))
            theirs.append(uvloop.run(_end_to_end(port, per_line, window, kind)))
        return Pairs(ours, theirs), gateway, _memory_kib(gateway.pid, "VmHWM")


def _open_loop_traffic(index: Path, lines: int) -> tuple[list[str], TrafficData]:
    """The open loop's lines (the ``lines`` with the most agencies) and its traffic data:
    the subjects of ``index`` as seed 1 draws them."""
    oris = load_oris(None)
    codes = busiest_lines(oris, lines)
    ordinary, ivf, shared = subjects_from_index(index, 1)
    data = TrafficData(tuple(ordinary), tuple(ivf), tuple(shared), agencies_by_line(oris, codes))
    return codes, data


def open_loop_bodies(index: Path, count: int = OPEN_LOOP_BODIES) -> list[str]:
    """The bodies of the open loop's first ``count`` IAQs (its mix, seed 1, over
    OPEN_LOOP_LINES lines, against ``index``): the closed loop sends them to measure the
    gateway's capacity for the open loop's traffic."""
    codes, data = _open_loop_traffic(index, OPEN_LOOP_LINES)
    generator = TrafficGenerator(data, {"iaq": 1.0}, codes, 1)
    return [parse_input(generator.next().text).body for _ in range(count)]


@dataclass(frozen=True, slots=True)
class LatencyFigures:
    """An open-loop run: its report (``pacing``: how late the simulator sent), its IAQs' p50
    and p99 in ms, and the p99 of the warm-up before it on the same gateway."""

    report: Report
    p50: float
    p99: float
    warm_up_p99: float


def page_in(paths: Iterable[Path]) -> None:
    """Read each file whole, so that its pages are in the page cache (docs/benchmarks.md,
    method 3: this host pages out what was left untouched for about a minute)."""
    buffer = bytearray(1 << 20)
    for path in paths:
        with path.open("rb", buffering=0) as file:
            while file.readinto(buffer):
                pass


def bench_latency(rate: float = 5000, seconds: float = 5,
                  lines: int = OPEN_LOOP_LINES) -> LatencyFigures:
    """Open-loop IAQs at ``rate`` over ``lines`` lines, after the index's files are read and
    a warm-up of :data:`WARM_UP_SECONDS` at the same rate, other IAQs, on the same gateway."""
    codes, data = _open_loop_traffic(BENCH_INDEX, lines)
    page_in([BENCH_INDEX, sidecar_path(BENCH_INDEX)])
    with gateway_process() as gateway:

        def run(count: int, seed: int) -> tuple[Report, float, float]:
            options = SimulationOptions(
                target=parse_target(f"127.0.0.1:{gateway.port}"),
                keys={code: dev_key(code) for code in codes}, rate=rate, count=count,
                mix={"iaq": 1.0}, seed=seed, drain=60.0, wait_enhanced=False,
            )
            report = uvloop.run(Simulation(options, data).run())
            merged = report.kind("iaq-c").latency
            merged.add(report.kind("iaq-f").latency)
            p50, p99 = (merged.get_value_at_percentile(p) / 1000 for p in (50, 99))
            return report, p50, p99

        warm_up_p99 = run(int(rate * WARM_UP_SECONDS), _WARM_UP_SEED)[2]
        report, p50, p99 = run(int(rate * seconds), 1)
    return LatencyFigures(report, p50, p99, warm_up_p99)


@dataclass(frozen=True, slots=True)
class LookupFigures:
    """Microseconds a lookup in the 1M-record index, in process."""

    by_name: float  # a name search, every page of the sample's records resident
    by_arn: float  # an A-number lookup, the same
    by_name_first: float  # a name search in the first pass: its pages mapped as it touches them


def bench_lookup(count: int = 20_000) -> LookupFigures:
    """Name searches and A-number lookups of records sampled from the 1M-record index.

    The index's packed form is a mapped file whose pages become resident as lookups first
    touch them (docs/benchmarks.md, "How each figure is measured", 4): the first pass over the
    sample is timed on its own, then ``count`` lookups of each kind over pages it touched.
    """
    from responders.lesc.index import ImmigrationIndex

    subjects = subjects_from_index(BENCH_INDEX, 2)[0]
    index = ImmigrationIndex.open(BENCH_INDEX)

    def by_name(n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            s = subjects[i % len(subjects)]
            index.by_name(s.last, s.first, s.dob, s.sex)
        return (time.perf_counter() - start) / n * 1e6

    def by_arn(n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            index.by_arn(subjects[i % len(subjects)].arn or "")
        return (time.perf_counter() - start) / n * 1e6

    try:
        first = by_name(len(subjects))
        # The A-number tables are pages of their own: their first pass, untimed.
        by_arn(len(subjects))
        return LookupFigures(by_name(count), by_arn(count), first)
    finally:
        index.close()


def bench_open_hits() -> HitFigures:
    """100,000 open hit confirmations tracked: peak RSS, lateness of their PENDING YRs."""
    return open_hits(gateway_process, _memory_kib, BENCH_INDEX)


def _row(what: str, figure: str, target: str, met: bool | None) -> str:
    mark = "" if met is None else (" met" if met else " MISSED")
    return f"| {what} | {figure} | {target}{mark} |"


def prepare_load() -> None:
    """Build the benchmark's index when it is missing, and move this process, the load, to
    the other core from the servers under test."""
    subprocess.run([sys.executable, "-m", "gateway", "data", "build", "--data-dir",
                    str(BENCH_DATA), "--synthetic-records", str(BENCH_RECORDS)], check=True)
    os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})


def main() -> None:
    """Run every benchmark and print the figures, then the table for docs/benchmarks.md.

    The targets are issue 13's where it sets one (docs/benchmarks.md), else the earlier ones.
    """
    profile = BENCH_DATA / "profile.txt" if "--profile" in sys.argv[1:] else None
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{_cpu_model()}, Python {platform.python_version()}, {platform.platform()}")
    print(f"date: {date.today().isoformat()}")
    prepare_load()
    rows = ["| figure | measured | target |", "|---|---|---|"]
    parse = bench_parse()
    hl7_rate = bench_hl7_parse()
    fix_rate = bench_fix_parse()
    xml_rate = bench_xml_parse()
    lxml_rate = bench_lxml_parse()
    print(f"parse: IAQ {parse:,.0f}/s, hl7.parse {hl7_rate:,.0f}/s ({parse / hl7_rate:.1f}x), "
          f"simplefix {fix_rate:,.0f}/s ({parse / fix_rate:.1f}x)")
    print(f"parse: XML IAQ {xml_rate:,.0f}/s ({xml_rate / parse:.0%} of text), "
          f"lxml parse alone {lxml_rate:,.0f}/s ({xml_rate / lxml_rate:.0%} of the floor)")
    rows += [
        _row("IAQ parse + validate, one core", f"{parse:,.0f}/s", "250,000/s", parse >= 250_000),
        _row("python-hl7 `hl7.parse`, HL7 QBP query", f"{hl7_rate:,.0f}/s", "-", None),
        _row("IAQ parse / hl7.parse", f"{parse / hl7_rate:.1f}x", "25x", parse >= 25 * hl7_rate),
        _row("simplefix parse, FIX NewOrderSingle", f"{fix_rate:,.0f}/s", "-", None),
        _row("IAQ parse / simplefix", f"{parse / fix_rate:.1f}x", "-", None),
        _row("XML IAQ parse + validate, one core", f"{xml_rate:,.0f}/s", "-", None),
        _row("lxml parse of the same document (floor)", f"{lxml_rate:,.0f}/s", "-", None),
        _row("XML IAQ / text IAQ parse", f"{xml_rate / parse:.0%}", "-", None),
        _row("XML IAQ / lxml floor", f"{xml_rate / lxml_rate:.0%}", "-", None),
    ]
    pairs, started, peak_kib = bench_pairs("mllp")
    e2e, mllp, ratio = (median(pairs.gateway), median(pairs.peer), median(pairs.ratios))
    e2e_xml = bench_end_to_end(xml=True)[0]
    # The open loop's traffic, closed loop: the gateway's capacity for what the latency rows
    # offer it (their IAQs find records the bench's do not).
    e2e_open = bench_end_to_end(bodies=open_loop_bodies(BENCH_INDEX))[0]
    echo = bench_peer("echo")
    each = ", ".join(f"{ours:,.0f} / {theirs:,.0f} ({r:.2f}x)" for ours, theirs, r
                     in zip(pairs.gateway, pairs.peer, pairs.ratios, strict=True))
    print(f"end to end, gateway / python-hl7 MLLP ACK server in turn: {each}")
    print(f"end to end: gateway {e2e:,.0f} IAQ/s, python-hl7 MLLP ACK server {mllp:,.0f}/s "
          f"(median pair {ratio:.2f}x), framed echo {echo:,.0f}/s (gateway at {e2e / echo:.1%})")
    print(f"end to end over XML lines: {e2e_xml:,.0f} IAQ/s ({e2e_xml / e2e:.0%} of text)")
    print(f"end to end, the open loop's IAQs: {e2e_open:,.0f} IAQ/s ({e2e_open / e2e:.0%} of the "
          f"bench's IAQs)")
    rows += [
        _row("end-to-end IAQ/s (16 lines x 64 in flight), the median run", f"{e2e:,.0f}/s",
             "20,000/s", e2e >= 20_000),
        _row("end-to-end IAQ/s over XML lines, same load", f"{e2e_xml:,.0f}/s", "-", None),
        _row("XML lines / text lines, end to end", f"{e2e_xml / e2e:.0%}", "60%",
             e2e_xml >= 0.6 * e2e),
        _row("end-to-end IAQ/s, the open loop's IAQs, same load (its capacity)",
             f"{e2e_open:,.0f}/s", "-", None),
        _row("python-hl7 MLLP ACK server, same load", f"{mllp:,.0f}/s", "-", None),
        _row(f"gateway / MLLP peer, {PAIRS} pairs in turn",
             " / ".join(f"{r:.2f}x" for r in pairs.ratios), "-", None),
        _row("gateway / MLLP peer, the median pair", f"{ratio:.2f}x", "4x", ratio >= 4),
        _row("framed echo server (ceiling)", f"{echo:,.0f}/s", "-", None),
        _row("gateway / echo ceiling", f"{e2e / echo:.1%}", "-", None),
    ]
    rows += bench_mqtt(BENCH_DATA, BENCH_RECORDS, LINES, sample_iaq)
    latency = bench_latency()
    report, p50, p99 = latency.report, latency.p50, latency.p99
    offered = report.sent / report.sending if report.sending else 0.0
    # The simulator's pace: a generator that falls behind sends late, and the latencies,
    # which count from the scheduled moment, hold its lateness as well as the gateway's.
    late = report.pacing.percentile_ms(99.0) or 0.0
    print(f"latency at 5,000 IAQ/s over 50 lines: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"({report.answered}/{report.sent} answered, {sum(report.violations.values())} "
          f"violations, inputs sent p99 {late:.2f} ms after their scheduled moment; "
          f"offered at {offered / e2e_open:.0%} of the capacity for these IAQs; the warm-up "
          f"before it, {WARM_UP_SECONDS:g} s on the same gateway, p99 "
          f"{latency.warm_up_p99:.2f} ms)")
    for what, count in report.violations.items():
        print(f"  {what}: {count}, e.g. {report.examples[what]}")
    rows += [
        _row("p50 latency, 5,000 IAQ/s open loop, 50 lines", f"{p50:.2f} ms", "-", None),
        _row("p99 latency, 5,000 IAQ/s open loop, 50 lines", f"{p99:.2f} ms", "10 ms",
             p99 <= 10),
        _row("answered / sent in that run", f"{report.answered}/{report.sent} "
             f"(sent at {offered:,.0f}/s)", "all", report.answered == report.sent),
        _row("offered / capacity for the open loop's IAQs", f"{offered / e2e_open:.0%}", "-",
             None),
        _row(f"p99 latency of the warm-up before it ({WARM_UP_SECONDS:g} s, same gateway)",
             f"{latency.warm_up_p99:.2f} ms", "-", None),
    ]
    # The same load at a rate within one core's reach shows the latency without queueing.
    low = bench_latency(rate=LOW_RATE)
    print(f"latency at {LOW_RATE:,} IAQ/s over 50 lines: p50 {low.p50:.2f} ms, "
          f"p99 {low.p99:.2f} ms")
    rows += [
        _row(f"p50 / p99 latency, {LOW_RATE:,} IAQ/s open loop, 50 lines",
             f"{low.p50:.2f} / {low.p99:.2f} ms", "-", None),
    ]
    lookups = bench_lookup()
    print(f"start-up {started.start_s:.2f} s, peak RSS {peak_kib / 1024:.0f} MB, "
          f"lookup by name {lookups.by_name:.1f} us (first pass over the sample "
          f"{lookups.by_name_first:.1f} us), by A-number {lookups.by_arn:.1f} us")
    rows += [
        _row("start-up with a 1,000,000-record index", f"{started.start_s:.2f} s", "2 s",
             started.start_s <= 2),
        _row("peak RSS during the end-to-end run", f"{peak_kib / 1024:.0f} MB", "300 MB",
             peak_kib <= 300 * 1024),
        _row("index lookup by name (Soundex + initial + DOB)", f"{lookups.by_name:.1f} us",
             "5 us", lookups.by_name <= 5),
        _row("same, first pass over the sample (pages mapped as touched)",
             f"{lookups.by_name_first:.1f} us", "-", None),
        _row("index lookup by A-number", f"{lookups.by_arn:.1f} us", "5 us",
             lookups.by_arn <= 5),
    ]
    hits = bench_open_hits()
    print(f"{hits.cases:,} open hit confirmations: peak RSS {hits.peak_rss_mb:.0f} MB (idle "
          f"{hits.idle_rss_mb:.0f} MB), {hits.actions:,} PENDING YRs late by p99 "
          f"{hits.late_p99_ms:.0f} ms, max {hits.late_max_ms:.0f} ms (targets 100 MB, 1 s)")
    rows += [
        _row(f"peak RSS, {hits.cases:,} open hit confirmations", f"{hits.peak_rss_mb:.0f} MB",
             "100 MB", hits.peak_rss_mb <= 100),
        _row("lateness of their PENDING YRs, p99 / max",
             f"{hits.late_p99_ms:.0f} / {hits.late_max_ms:.0f} ms", "1 s",
             hits.late_max_ms <= 1000),
    ]
    print()
    print("\n".join(rows))
    if profile is not None:
        # A run of its own: the profiler slows the gateway down, so it is not the measured one.
        bench_end_to_end(per_line=1000, profile=profile)
        print(f"\nprofile of the gateway under the end-to-end load ({profile}):")
        print("\n".join(profile.read_text().splitlines()[:PROFILE_LINES]))


def _cpu_model() -> str:
    for row in Path("/proc/cpuinfo").read_text().splitlines():
        if row.startswith("model name"):
            return row.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
