"""The closed-loop load of ``make bench`` with the open loop's IAQs (simulator/bench.py)."""

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paths import RECORDS

from formats.framing import encode_frame
from formats.message import parse_input
from gateway.app import Gateway
from responders.lesc.records import index_path
from simulator.bench import (
    LINES,
    Pairs,
    _end_to_end,
    count_iars,
    open_loop_bodies,
    page_in,
    sample_iaq,
)


async def test_the_closed_loop_sends_the_open_loops_iaqs_and_counts_their_iars(
    start_gateway: Callable[..., Awaitable[Gateway]],
) -> None:
    gateway = await start_gateway(technician_delay="off")
    bodies = open_loop_bodies(index_path(gateway.settings.data_dir, RECORDS, 0), count=40)
    # Unlike the bench's IAQs, the mix names people of the index by their identifiers.
    bench_bodies = {parse_input(sample_iaq("CA0000000", n)).body for n in range(40)}
    assert not bench_bodies & set(bodies)
    assert any("ARN/" in body or "FBI/" in body for body in bodies)

    # A run that miscounted the IARs would wait for more: the timeout fails it instead.
    rate = await asyncio.wait_for(
        _end_to_end(gateway.port, per_line=12, window=4, lines=LINES[:3], bodies=bodies), 60
    )

    assert rate > 0
    with sqlite3.connect(gateway.settings.journal_path) as db:
        inputs = [text for (text,) in db.execute(
            "SELECT text FROM inputs WHERE line = ? ORDER BY in_seq", (LINES[2],))]
        mkes = [mke for (mke,) in db.execute(
            "SELECT mke FROM outputs WHERE line = ? ORDER BY seq", (LINES[2],))]
    # Every IAQ was sent, each line from its own place in the bodies, and answered.
    start = LINES.index(LINES[2]) * len(bodies) // len(LINES)
    assert [parse_input(text).body for text in inputs] == [
        bodies[(start + n) % len(bodies)] for n in range(12)
    ]
    assert mkes.count("IAR") == 12 and "ER" not in mkes


@given(
    st.lists(st.sampled_from(["IAR.VTINS07S0\nA", "AM.VTINS07S0\nB", "IAR", "ER.X"]), max_size=30),
    st.lists(st.integers(min_value=0, max_value=400), max_size=20),
)
def test_iars_are_counted_however_the_reads_cut_the_stream(
    texts: list[str], cuts: list[int]
) -> None:
    stream = b"".join(encode_frame(text) for text in texts)
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    counted, tail = 0, b""
    for start, end in pairwise(points):
        count, tail = count_iars(tail, stream[start:end])
        counted += count
    assert counted == sum(text.startswith("IAR.") for text in texts)


def test_each_pair_is_its_gateway_run_over_the_peer_run_after_it() -> None:
    pairs = Pairs(gateway=[26_000.0, 24_000.0, 25_000.0], peer=[6_500.0, 6_400.0, 5_000.0])
    assert pairs.ratios == [4.0, 3.75, 5.0]


def _resident_pages(path: Path) -> int:
    out = subprocess.run(["fincore", "--noheadings", "--raw", "--output", "PAGES", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


@pytest.mark.skipif(shutil.which("fincore") is None, reason="util-linux's fincore is missing")
def test_page_in_reads_the_files_into_the_page_cache(tmp_path: Path) -> None:
    # The latency runs read the index's files first: this host pages out what was left
    # untouched for a minute, and a run that read them back from the disk counted it.
    path = tmp_path / "index.packed"
    path.write_bytes(os.urandom(4 << 20))
    with path.open("rb") as file:
        os.fsync(file.fileno())
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    assert _resident_pages(path) < 256
    page_in([path])
    assert _resident_pages(path) == 1024
    with pytest.raises(FileNotFoundError):
        page_in([tmp_path / "missing"])
