"""Valid and mutated frames of every kind (IAQ, AM, YQ, QW, control frames) for fuzzing a
live session: hypothesis strategies, and a seeded mutator fast enough for a million frames."""

import random
from datetime import date, timedelta

from hypothesis import strategies as st
from messages import am, iaq

from formats.message import format_fields, format_input

LINE = "CA"
SENDER = "CA0000000"
OTHER_SENDERS = ("CA1234567", "TX0000000", "VTINS07S0", "NL0000000", "ZZ0000000", "CA00")
DESTS = ("AX", "VTINS07S0", "AXADMHELP", "NCIC", "CA", "TX", "NY0000000", "CA0000000", "ZZ",
         "NL0000000", "DCFBIWA00", "Q")

names = st.sampled_from(
    ["GARCIA, MARIA ELENA", "SMITH, JOHN", "O'BRIEN, PAT", "NGUYEN, AN", "LEE-PARK, SO YEON"]
)
past_dates = st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31))
dobs = past_dates.map(lambda d: d.strftime("%Y%m%d")) | past_dates.map(
    lambda d: d.strftime("%m%d%y")
)
controls = st.none() | st.from_regex(r"[A-Z0-9-]{1,10}", fullmatch=True)
free_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="."),
    min_size=1,
    max_size=60,
).filter(lambda s: not s.isspace())


@st.composite
def iaqs(draw: st.DrawFn) -> str:
    """A valid IAQ to the LESC."""
    fields: dict[str, str | None] = {
        "nam": draw(names),
        "dob": draw(dobs),
        "sex": draw(st.sampled_from("MFU")),
        "pur": draw(st.sampled_from("CF")),
        "cus": draw(st.sampled_from("YN")),
        "pob": draw(st.sampled_from(["MX", "CA", "GT", "XX"])),
    }
    if draw(st.booleans()):
        fields["arn"] = draw(st.from_regex(r"A?[0-9]{8,9}", fullmatch=True))
    if draw(st.booleans()):
        fields["rem"] = draw(free_text)
    dest = draw(st.sampled_from(["AX", "VTINS07S0"]))
    return iaq(SENDER, dest=dest, control=draw(controls), **fields)


@st.composite
def ams(draw: st.DrawFn) -> str:
    """A valid administrative message to lines, ORIs or the LESC help file."""
    dests = draw(st.lists(st.sampled_from(["CA", "TX", "NY0000000", "AXADMHELP"]),
                          min_size=1, max_size=5, unique=True))
    return am(SENDER, *dests, text=draw(free_text), control=draw(controls))


@st.composite
def yqs(draw: st.DrawFn) -> str:
    """A valid hit confirmation request to the LESC."""
    fields = {
        "RTY": "WP",
        "RNO": draw(st.sampled_from("123")),
        "PRI": draw(st.sampled_from("UR")),
        "OCA": draw(st.from_regex(r"[A-Z0-9]{1,20}", fullmatch=True)),
        "NIC": draw(st.from_regex(r"[A-Z][0-9]{9}", fullmatch=True)),
        "NAM": draw(names),
        "DOB": draw(dobs),
    }
    return format_input("YQ", SENDER, ["VTINS07S0"], format_fields(fields), draw(controls))


@st.composite
def qws(draw: st.DrawFn) -> str:
    """A valid NCIC Immigration Violator File inquiry."""
    fields = {"NAM": draw(names), "DOB": draw(dobs)}
    if draw(st.booleans()):
        fields["SEX"] = draw(st.sampled_from("MFU"))
    return format_input("QW", SENDER, ["NCIC"], format_fields(fields), draw(controls))


controls_frames = st.sampled_from(["HB", "ACK.0", "ACK.1", f"SIGNON.{LINE}.DEV-{LINE}"]) | (
    st.integers(min_value=0, max_value=10**18).map(lambda n: f"ACK.{n}")
)
valid_texts = st.one_of(iaqs(), ams(), yqs(), qws(), controls_frames)

# Bytes a mutation may bring in: framing bytes, line ends, header punctuation, bytes outside
# the character set.
SPECIAL = [b"\x02", b"\x03", b"\r", b"\n", b".", b"/", b"*", b" ", b"\x00", b"\x7f", b"\xff",
           b"TXT", b"REM/", b"SIGNON.", b"ACK.", b"HB"]


def mutate(text: str, rng: random.Random) -> bytes:
    """One to three random edits of a frame's text, as bytes."""
    data = bytearray(text.encode())
    for _ in range(rng.randint(1, 3)):
        choice = rng.randrange(10)
        at = rng.randint(0, len(data))
        if choice == 0 and data:
            del data[at : at + rng.randint(1, 8)]
        elif choice == 1:
            data[at:at] = rng.choice(SPECIAL)
        elif choice == 2 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif choice == 3:
            data = data[:at]
        elif choice == 4 and data:
            end = rng.randint(at, len(data))
            data[at:at] = data[at:end] * rng.randint(1, 4)
        elif choice == 5:
            data = data.replace(SENDER.encode(), rng.choice(OTHER_SENDERS).encode(), 1)
        elif choice == 6:
            data = data.replace(b".AX.", b"." + rng.choice(DESTS).encode() + b".", 1)
        elif choice == 7:
            data = data.replace(b"TXT", b"", 1)
        elif choice == 8:
            # Past the maximum frame length now and then.
            data += b"X" * rng.choice([10, 1000, 17000])
        else:
            data[at:at] = bytes(rng.randrange(0x20, 0x7F) for _ in range(rng.randint(1, 12)))
    return bytes(data)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid text of any kind with random edits, as a frame's payload."""
    text = draw(valid_texts)
    return mutate(text, random.Random(draw(st.integers(0, 2**32))))


payloads = st.one_of(valid_texts.map(str.encode), mutated_frames())


def seed_texts(rng: random.Random, count: int) -> list[str]:
    """Valid texts of every kind without hypothesis, for the long run's mutator."""
    today = date(2020, 1, 1)
    texts = []
    for n in range(count):
        dob = (today - timedelta(days=rng.randrange(365 * 80))).strftime("%Y%m%d")
        kind = n % 5
        if kind == 0:
            texts.append(iaq(SENDER, arn="012345678", dob=dob, control=f"S{n}"))
        elif kind == 1:
            texts.append(am(SENDER, "TX", "CA", text=f"SEED {n}", control=f"S{n}"))
        elif kind == 2:
            texts.append(format_input("YQ", SENDER, ["VTINS07S0"], format_fields({
                "RTY": "WP", "RNO": "1", "PRI": "U", "OCA": f"OCA{n}",
                "NIC": f"I{n:09d}", "NAM": "GARCIA, MARIA", "DOB": dob,
            })))
        elif kind == 3:
            texts.append(format_input("QW", SENDER, ["NCIC"],
                                      format_fields({"NAM": "SMITH, JOHN", "DOB": dob})))
        else:
            texts.append(rng.choice(["HB", f"ACK.{n}", f"SIGNON.{LINE}.DEV-{LINE}"]))
    return texts
