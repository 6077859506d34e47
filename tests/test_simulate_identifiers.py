"""The simulator's IAQs carry the identifiers an officer has (docs/simulator.md, Identifiers):
their shares over a seeded sample, that they name the subject, and that a real gateway's
indices find the subject by them."""

import csv
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

from paths import RECORDS
from test_simulate import FAST_TECHNICIAN, data_for, options

from formats.message import parse_fields, parse_input
from formats.output import parse_output
from gateway.app import Gateway
from responders.lesc.indices.ident import encounters
from responders.lesc.indices.identifiers import arn_of_fbi, arn_of_sid, fin
from responders.lesc.indices.iii import repositories
from simulator.record import read_record
from simulator.simulate import Simulation
from simulator.traffic import (
    BOOKED_IDENTIFIED,
    BOOKED_SHARE,
    BOOKED_UNKNOWN_FBI,
    OTHER_FBI,
    OTHER_UNKNOWN_FBI,
    Planned,
    TrafficGenerator,
    parse_mix,
)

LINES = ["CA", "TX", "NY", "FL", "WV"]


def drawn(mix: str, seed: int, count: int) -> list[tuple[Planned, dict[str, str]]]:
    """``count`` inputs of a seeded generator over the test records, with their fields."""
    generator = TrafficGenerator(data_for(LINES), parse_mix(mix), LINES, seed)
    planned = [generator.next() for _ in range(count)]
    return [(p, parse_fields(parse_input(p.text).body)) for p in planned]


def test_identifiers_come_in_the_documented_shares() -> None:
    count = 20_000
    found: Counter[str] = Counter()
    for _, fields in drawn("iaq=1", 3, count):
        if "FBI" in fields:
            found["own FBI" if arn_of_fbi(fields["FBI"]) is not None else "unknown FBI"] += 1
        if "SID" in fields:
            found["SID"] += 1
            assert fields["CUS"] == "Y"  # only a booking gives a SID
    booked, other = BOOKED_SHARE, 1 - BOOKED_SHARE
    expected = {
        "own FBI": booked * BOOKED_IDENTIFIED + other * OTHER_FBI,
        "SID": booked * BOOKED_IDENTIFIED,
        "unknown FBI": booked * BOOKED_UNKNOWN_FBI + other * OTHER_UNKNOWN_FBI,
    }
    # The shares docs/simulator.md gives: about 16 %, 12 % and 6 %.
    assert [round(expected[k], 2) for k in ("own FBI", "SID", "unknown FBI")] == [
        0.16, 0.12, 0.06]
    for kind, share in expected.items():
        # Over 20 000 draws, 4 standard deviations are under 0.011 for these shares.
        assert abs(found[kind] / count - share) < 0.011, (kind, found[kind] / count, share)


def test_identifiers_name_the_subject() -> None:
    sample = drawn("iaq=1,bad=1,bio=1", 5, 3000)
    kinds: Counter[str] = Counter()
    for planned, fields in sample:
        subject = planned.subject
        assert subject is not None and subject.arn is not None
        if "FBI" in fields and (arn := arn_of_fbi(fields["FBI"])) is not None:
            assert arn == subject.arn
            kinds[planned.kind] += 1
        if "SID" in fields:
            # A booking's SID is that of the booking state: the drawn line, also for a
            # biometric IAQ sent on the CJIS line.
            booking_line = planned.answer_line
            assert arn_of_sid(fields["SID"]) == (subject.arn, booking_line)
    assert kinds["iaq-c"] and kinds["iaq-f"] and kinds["bad"]
    # The fingerprint match behind a biometric IAQ names the subject every time.
    biometric = [fields for planned, fields in sample if planned.kind == "iaq-b"]
    assert biometric and all(arn_of_fbi(f["FBI"]) is not None and "SID" in f
                             for f in biometric)


def test_the_same_seed_gives_the_same_identifiers() -> None:
    first, again, other = (drawn("iaq=1,bio=1", seed, 500) for seed in (9, 9, 10))
    ids = [[(f.get("FBI"), f.get("SID")) for _, f in run] for run in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]
    assert any(fbi for fbi, _ in ids[0])


def held_by_number() -> dict[str, tuple[bool, bool]]:
    """Whether III (a criminal history) and IDENT (an encounter) hold each person of the test
    records: the indices searched by FBI number that the test records reach."""
    with RECORDS.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    held = {}
    for row in rows:
        arn = row["arn"].upper().removeprefix("A").zfill(9)
        record = SimpleNamespace(arn=arn, ivf=row["ivf"] or None, status=row["status"],
                                 pob=row["pob"], coa=row["coa"])
        held[arn] = (bool(repositories(record)), bool(encounters(record)))
    return held


async def test_a_gateways_indices_find_the_subject_by_the_identifiers(
    start_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    gateway = await start_gateway(**FAST_TECHNICIAN)
    record = tmp_path / "ids.jsonl"
    simulation = Simulation(
        options(gateway.port, ["CA", "TX"], count=300, mix=parse_mix("iaq=1"), seed=4,
                record=record, drain=5.0),
        data_for(["CA", "TX"]),
    )
    report = await simulation.run()
    assert report.violations == {}, report.examples
    recorded = read_record(record)
    iars = {}
    for event in recorded.received:
        message = parse_output(event.text)
        if message.mke == "IAR" and "\nENH/Y." not in f"\n{message.body}":
            iars[message.control] = message.body
    held = held_by_number()
    by_number_only = unknown_alone = 0
    for sent in recorded.sent:
        query = parse_input(sent.text)
        fields = parse_fields(query.body)
        if "FBI" not in fields:
            continue
        body = iars[query.control]
        name_missed = "IDX/CIS NRF" in body
        arn = arn_of_fbi(fields["FBI"])
        if arn is None:
            if name_missed:
                # An unknown number finds nothing by itself.
                assert "III NRF" in body, body
                unknown_alone += 1
        else:
            in_iii, in_ident = held[arn]
            # III finds the subject's history under the number the officer gave, IDENT the
            # subject's prints, whatever the name and DOB found.
            assert (f"III: CRIMINAL HISTORY: FBI {fields['FBI']}," in body) == in_iii, body
            assert (f"IDENT: BIOMETRIC RECORD: FIN {fin(arn)}," in body) == in_ident, body
            by_number_only += name_missed and (in_iii or in_ident)
    # Some were found by the number alone: the name and DOB found no record.
    assert by_number_only > 0 and unknown_alone > 0, (by_number_only, unknown_alone)
