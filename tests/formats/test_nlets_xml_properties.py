"""Property tests of the Nlets XML codec: text → XML → text loses nothing, for every key and
both directions; rendering is a fixed point of reading; garbage only ever gives an ER."""

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st
from reliability_strategies import ams, dobs, free_text, iaqs, names, qws, yqs

from formats.errors import ErrorCode, MessageError
from formats.message import format_fields, format_input, parse_fields, parse_input
from formats.nlets_xml import (
    parse_xml_input,
    parse_xml_output,
    render_xml_input,
    render_xml_output,
    text_to_xml,
    xml_to_text,
)
from formats.nlets_xml.messages import output_text_to_xml, output_xml_to_text
from formats.notices import format_er_body, format_sm_body, format_sm_unable_body
from formats.output import SEQ_WRAP, OutputMessage, format_output, parse_output
from responders.lesc.hit_confirmation import pending_body, yr_body
from responders.lesc.ncic import CAVEAT, NO_RECORD

PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]
mkes = st.from_regex(r"[A-Z]{2,3}", fullmatch=True)
oris = st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}", fullmatch=True)
dest_names = st.from_regex(r"[A-Z0-9]{2,9}", fullmatch=True).filter(lambda d: d != "TXT")
controls = st.none() | st.from_regex(r"[A-Z0-9-]{1,10}", fullmatch=True)
# Free text as parse_input gives it: printable ASCII, CR and LF, no blanks at either end.
bodies = st.text(alphabet=[*PRINTABLE, "\n", "\r"], max_size=120).map(
    lambda text: text.strip(" \t\r\n")
)
codes = st.from_regex(r"[A-Z0-9]{1,9}", fullmatch=True)


@st.composite
def full_iaqs(draw: st.DrawFn) -> str:
    """An IAQ with any of its optional fields, values of any shape the text allows."""
    fields = {
        "PUR": draw(st.sampled_from("CF")), "ATN": draw(free_text.map(str.strip).filter(bool)),
        "PHN": draw(st.from_regex(r"[0-9][0-9-]{0,19}", fullmatch=True)),
        "NAM": draw(names | st.sampled_from(["DOE,JOHN", "DOE, JOHN  A", "X"])),
        "DOB": draw(dobs), "SEX": draw(st.sampled_from("MFU")), "POB": "MX",
        "CUS": draw(st.sampled_from("YN")), "OFF": "0399",
    }
    for tag in ("ARN", "FBI", "SID", "BOR", "OLN", "OLS", "SOC", "MNU", "CTZ", "OCA"):
        if draw(st.booleans()):
            fields[tag] = draw(codes)
    if draw(st.booleans()):
        fields["REM"] = draw(bodies.filter(lambda text: text.strip(" \t\r\n.")))
    return format_input("IAQ", draw(oris), [draw(dest_names)], format_fields(fields),
                        draw(controls))


@st.composite
def any_inputs(draw: st.DrawFn) -> str:
    """Any key, forwarded messages among them: header items of any valid shape, any text."""
    mke = draw(mkes)
    dests = draw(st.lists(dest_names, min_size=1, max_size=3 if mke == "YQ" else 5))
    return format_input(mke, draw(oris), dests, draw(bodies), draw(controls))


inputs = st.one_of(iaqs(), full_iaqs(), yqs(), qws(), ams(), any_inputs())


def header(text: str) -> tuple[str, str, tuple[str, ...], str | None, str]:
    msg = parse_input(text)
    return msg.mke, msg.sender, msg.dests, msg.control, msg.body


@given(inputs)
def test_input_text_to_xml_to_text_is_the_identity(text: str) -> None:
    xml = text_to_xml(text)
    back = xml_to_text(xml)
    assert header(back) == header(text)
    msg = parse_xml_input(xml)
    assert (msg.mke, msg.sender, msg.dests, msg.control, msg.body) == header(text)
    # What render writes, reading and writing again gives byte for byte.
    assert render_xml_input(msg) == xml
    assert text_to_xml(back) == xml


@given(iaqs())
def test_canonical_iaqs_travel_tagged(text: str) -> None:
    body = parse_input(text).body
    fields = parse_fields(body)
    # Tagged unless the text has no exact tagged form: a DOB written MMDDYY (the century
    # would be a guess) or a layout the fields do not rebuild (blanks before a period).
    exact = len(fields["DOB"]) == 8 and format_fields(fields) == body
    xml = text_to_xml(text)
    assert ("<n2:Person>" in xml) is exact
    assert parse_xml_input(xml).tagged is exact


def hit(data: st.DataObject) -> str:
    category = data.draw(st.sampled_from(["ABSCONDER", "DEPORTED FELON"]))
    fields = [("MKE", f"IMMIGRATION VIOLATOR - {category}"),
              ("NIC", data.draw(st.from_regex(r"[A-Z][0-9]{9}", fullmatch=True))),
              ("NAM", data.draw(names)), ("DOB", data.draw(dobs)),
              ("SEX", data.draw(st.sampled_from("MFU"))), ("POB", "MX"),
              ("ARN", data.draw(st.from_regex(r"A[0-9]{9}", fullmatch=True)))]
    return format_fields(fields) + "\n" + CAVEAT


@st.composite
def output_bodies(draw: st.DrawFn) -> tuple[str, str]:
    """(MKE, body) of each output the gateway writes, and any forwarded text."""
    request = {"RTY": "WP", "OCA": draw(codes), "NIC": "I123456789", "NAM": draw(names)}
    data = draw(st.data())
    kind = draw(st.sampled_from(["IAR", "YR", "PENDING", "QR", "NOQR", "ER", "SM", "AM", "ANY"]))
    if kind == "IAR":
        fields = [("NAM", draw(names)), ("DOB", draw(dobs)), ("SEX", "F"), ("LCN", "0000000001"),
                  ("STS", draw(st.sampled_from(["NRF", "LPR", "MLT"])))]
        return "IAR", format_fields(fields) + "\n" + draw(free_text)
    if kind == "YR":
        return "YR", yr_body(request, rno=draw(st.integers(1, 3)),
                             sta=draw(st.sampled_from(["CONFIRMED", "NOT CONFIRMED"])),
                             nao=draw(free_text.map(str.strip).filter(bool)),
                             note=draw(free_text), dtn=draw(st.booleans()))
    if kind == "PENDING":
        return "YR", pending_body(request, draw(st.integers(1, 3)), "1432")
    if kind == "QR":
        return "QR", "\n\n".join(hit(data) for _ in range(draw(st.integers(1, 3))))
    if kind == "NOQR":
        return "QR", NO_RECORD + "\n" + format_fields([("NAM", draw(names)), ("DOB", draw(dobs))])
    if kind == "ER":
        code = draw(st.sampled_from(list(ErrorCode)))
        return "ER", format_er_body(code, draw(free_text), draw(st.text([*PRINTABLE, "\n", "\r"])))
    if kind == "SM":
        return "SM", draw(st.sampled_from([format_sm_body("TX"), format_sm_unable_body(None)]))
    if kind == "AM":
        return "AM", draw(st.text([*PRINTABLE, "\n", "\r"], max_size=200))
    return draw(mkes), draw(st.text([*PRINTABLE, "\n", "\r"], max_size=200))


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda moment: moment.replace(second=0, microsecond=0)
)


@given(output_bodies(), oris, moments, st.integers(0, 10**9), moments, st.integers(1, 10**9),
       dest_names, controls)
def test_outputs_lose_nothing_either_way(
    kind_body: tuple[str, str], sender: str, in_time: datetime, in_seq: int,
    out_time: datetime, out_seq: int, dest: str, control: str | None,
) -> None:
    mke, body = kind_body
    msg = OutputMessage(mke, sender, in_time, in_seq, out_time, out_seq, dest, control, body)
    xml = render_xml_output(msg)
    read = parse_xml_output(xml)
    assert read == OutputMessage(mke, sender, in_time, in_seq % SEQ_WRAP, out_time,
                                 out_seq % SEQ_WRAP, dest, control, body)
    assert render_xml_output(read) == xml
    text = format_output(msg)
    assert output_xml_to_text(output_text_to_xml(text)) == text
    assert parse_output(output_xml_to_text(xml)) == read


def mutate(text: str, data: st.DataObject) -> str:
    """A few insertions, deletions and replacements of characters that matter in XML."""
    pieces = ["<", ">", "/", "&", ";", "'", '"', "=", "!", "?", "[", "]", "-", "&#233;", "&#1;",
              "<!DOCTYPE x [<!ENTITY e 'e'>]>", "<![CDATA[", "]]>", "&e;", "n2:", "nh2:", "\n",
              "<a>", "</a>", "xmlns:n2='x'", "\u00e9", "\x00"]
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(at, min(len(text), at + 8)))
        text = text[:at] + data.draw(st.sampled_from(pieces) | st.text(max_size=3)) + text[end:]
    return text


@given(inputs, st.data())
def test_broken_documents_only_ever_give_an_er(text: str, data: st.DataObject) -> None:
    broken = mutate(text_to_xml(text), data)
    for parse in (parse_xml_input, parse_xml_output):
        try:
            parse(broken)
        except MessageError as exc:
            assert exc.code in ErrorCode and "\n" not in exc.detail


@given(st.text(max_size=200) | st.text(alphabet="<>/!?&;:=' \"n2NLETSaxml-[]CDAT", max_size=80))
def test_garbage_only_ever_gives_an_er(text: str) -> None:
    for parse in (parse_xml_input, parse_xml_output):
        try:
            parse(text)
        except MessageError as exc:
            assert exc.code in ErrorCode
