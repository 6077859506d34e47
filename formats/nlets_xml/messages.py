"""Nlets XML messages ↔ the values of the legacy parsers (SPEC.md §10): inputs to
:class:`InputMessage`, outputs to :class:`OutputMessage`, and both back to XML.

An input read from XML carries the legacy body the text parser would give for the same
message, so every pipeline answers it unchanged. Writing loses nothing: a body that has no
exact tagged form travels as text inside the document (docs/xml.md).
"""

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final

from lxml import etree

from formats.dates import format_ccyymmdd, parse_dob
from formats.errors import ErrorCode, MessageError
from formats.framing import DEFAULT_MAX_TEXT
from formats.message import (
    MAX_DESTINATIONS,
    YQ_MAX_DESTINATIONS,
    InputMessage,
    format_fields,
    format_input,
    parse_fields,
    parse_input,
)
from formats.nlets_xml.document import (
    N2,
    PREFIXES,
    escape,
    is_xml,
    match_name,
    match_tag,
    parse_document,
    shown_name,
    text_value,
)
from formats.nlets_xml.fields import (
    has_inquiry_form,
    has_record_form,
    read_inquiry,
    read_records,
    record_elements,
    write_inquiry,
    write_records,
)
from formats.nlets_xml.names import INQUIRY_FIELDS
from formats.output import OutputMessage, format_output, parse_output, seq_text

VERSION: Final = "4.00"
# Keys whose bodies are responses (SPEC.md §10); queries have tagged forms; the rest is mail.
RESPONSE_KEYS: Final = frozenset({"IAR", "YR", "QR", "ER", "SM"})

HEADER: Final = "n2:NLETSMessageHeader"
INQUIRY: Final = "n2:NLETSInquiryData"
RESPONSE: Final = "n2:NLETSResponseData"
MAIL: Final = "n2:NLETSMailData"
DESCRIPTION: Final = "n2:InquiryDescriptionText"
RESPONSE_TEXT: Final = "n2:ResponseText"
MESSAGE_TEXT: Final = "nc:MessageText"
# Free text of mail: NIEM's name (SPEC.md §10) and the two Nlets uses for AM and SM.
_MAIL_TEXTS: Final = frozenset({"MessageText", "n2:MailMessageText", "n2:StatusMessageText"})
_BODIES: Final = (INQUIRY, RESPONSE, MAIL)
_KEY: Final = f"{{{N2}}}key"

MKE: Final = "nh2:MessageKeyCodeText"
ORI: Final = "nh2:OriginatingORIID"
DEST: Final = "nh2:DestinationORIID"
CONTROL: Final = "nh2:DocumentControlFieldText"
RECEIVE_DATE: Final = "nh2:MessageReceiveDate"
RECEIVE_TIME: Final = "nh2:MessageReceiveTime"
SEND_DATE: Final = "nh2:MessageSendDate"
SEND_TIME: Final = "nh2:MessageSendTime"
RECEIVE_NUMERIC: Final = "nh2:ReceiveMessageNumeric"
SEND_NUMERIC: Final = "nh2:SendMessageNumeric"

_MKE_SHAPE: Final = re.compile("[A-Z]{2,3}")
_ORI_SHAPE: Final = re.compile("[A-Z]{2}[A-Z0-9]{7}")
_DEST_SHAPE: Final = re.compile("[A-Z0-9]{2,9}")
_CONTROL_MAX: Final = 10
_CONTROL_SHAPE: Final = re.compile(f"[A-Z0-9-]{{1,{_CONTROL_MAX}}}")
_DATE: Final = re.compile("([0-9]{2})/([0-9]{2})/([0-9]{4})")
_TIME: Final = re.compile("([0-9]{2}):([0-9]{2})")
_NUMERIC: Final = re.compile("[0-9]{5}")
_OPEN: Final = (
    '<n2:NLETS ' + " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in PREFIXES.items())
    + f' n2:version="{VERSION}">'
)


@dataclass(slots=True)
class XmlInput(InputMessage):
    """An input read from Nlets XML; ``tagged`` when its fields came from tagged elements
    (then an ER about a field names the element: :func:`formats.nlets_xml.xml_error`)."""

    tagged: bool = False


# reading


def _children(parent: etree._Element) -> dict[str, list[etree._Element]]:
    """The children of an element by match name."""
    found: dict[str, list[etree._Element]] = {}
    for child in parent:
        found.setdefault(match_tag(child.tag), []).append(child)  # type: ignore[arg-type]
    return found


def _one(
    items: dict[str, list[etree._Element]],
    name: str,
    code: ErrorCode,
    field: str,
    *,
    required: bool = True,
    strip: bool = True,
) -> str | None:
    """The text of an element that may appear once."""
    found = items.get(name, [])
    if len(found) > 1:
        raise MessageError(code, f"ELEMENT {name} REPEATED", field)
    if not found:
        if required:
            raise MessageError(code, f"ELEMENT {name} MISSING", field)
        return None
    return text_value(found[0], name, strip)


def _header(root: etree._Element, code: ErrorCode) -> dict[str, list[etree._Element]]:
    found = _children(root).get(HEADER, [])
    if len(found) != 1:
        detail = f"ELEMENT {HEADER} {'MISSING' if not found else 'REPEATED'}"
        raise MessageError(code, detail, "MKE")
    return _children(found[0])


def _body_element(root: etree._Element, code: ErrorCode) -> etree._Element:
    bodies = [child for child in root if match_name(child) in _BODIES]
    if not bodies:
        raise MessageError(
            code, f"NO {INQUIRY}, {RESPONSE} OR {MAIL} (THE TEXT OF THE MESSAGE)", "TXT"
        )
    if len(bodies) > 1:
        raise MessageError(ErrorCode.FIELD, "MORE THAN ONE BODY ELEMENT", "TXT")
    return bodies[0]


def _mke(items: dict[str, list[etree._Element]], code: ErrorCode) -> str:
    mke = _one(items, MKE, code, "MKE")
    assert mke is not None
    if _MKE_SHAPE.fullmatch(mke) is None:
        raise MessageError(code, f"{MKE} MUST BE 2 OR 3 LETTERS", "MKE")
    return mke


def _ori(items: dict[str, list[etree._Element]], code: ErrorCode) -> str:
    ori = _one(items, ORI, code, "ORI")
    assert ori is not None
    if _ORI_SHAPE.fullmatch(ori) is None:
        raise MessageError(code, f"{ORI} MUST BE 9 LETTERS OR DIGITS", "ORI")
    return ori


def _control(items: dict[str, list[etree._Element]], code: ErrorCode) -> str | None:
    # An empty control element is the usual way XML writers leave an optional item out.
    control = _one(items, CONTROL, code, "CONTROL", required=False) or None
    if control is not None:
        if len(control) > _CONTROL_MAX:
            raise MessageError(code, f"{CONTROL} LONGER THAN {_CONTROL_MAX}", "CONTROL")
        if _CONTROL_SHAPE.fullmatch(control) is None:
            raise MessageError(code, f"{CONTROL} MUST BE LETTERS, DIGITS OR -", "CONTROL")
    return control


def _dests(items: dict[str, list[etree._Element]], mke: str) -> tuple[str, ...]:
    found = items.get(DEST, [])
    if not found:
        raise MessageError(ErrorCode.DESTINATION, f"ELEMENT {DEST} MISSING", "DEST")
    limit = YQ_MAX_DESTINATIONS if mke == "YQ" else MAX_DESTINATIONS
    if len(found) > limit:
        raise MessageError(
            ErrorCode.DESTINATION, f"MORE THAN {limit} {DEST} ELEMENTS", "DEST"
        )
    dests = []
    for number, element in enumerate(found, 1):
        dest = text_value(element, DEST)
        if _DEST_SHAPE.fullmatch(dest) is None:
            raise MessageError(ErrorCode.DESTINATION, f"{DEST} {number} INVALID", "DEST")
        dests.append(dest)
    return tuple(dests)


def _strangers(body: etree._Element, known: set[str], mke: str) -> None:
    """Refuse what a body element holds besides its known children: it would be lost."""
    for child in body:
        if match_name(child) not in known:
            raise MessageError(
                ErrorCode.FIELD,
                f"ELEMENT {shown_name(body)}/{shown_name(child)} NOT ALLOWED IN {mke}",
                "XML",
            )


def _body_text(body: etree._Element, mke: str, strip: bool) -> tuple[str, bool]:
    """The legacy body a body element holds, and whether it came from tagged elements."""
    name = match_name(body)
    items = _children(body)
    if name == INQUIRY:
        if DESCRIPTION in items:
            _strangers(body, {DESCRIPTION}, mke)
            text = _one(items, DESCRIPTION, ErrorCode.FIELD, "TXT", strip=strip)
            assert text is not None
            return text, False
        if not has_inquiry_form(mke):
            raise MessageError(
                ErrorCode.FIELD, f"{mke} HAS NO TAGGED FORM: SEND ITS TEXT IN {DESCRIPTION}",
                "TXT",
            )
        return read_inquiry(body, mke), True
    if name == RESPONSE:
        records = record_elements(body, mke) if has_record_form(mke) else []
        _strangers(body, {RESPONSE_TEXT, *(match_name(record) for record in records)}, mke)
        text = _one(items, RESPONSE_TEXT, ErrorCode.TXT_NOT_FOUND, "TXT",
                    required=not records, strip=strip)
        if text is not None:
            # The text is the message; tagged records beside it are its copy for machines.
            return text, False
        return read_records(records, mke), True
    key = body.get(_KEY)
    if key is not None and key.strip() != mke:
        raise MessageError(
            ErrorCode.HEADER, f"{MAIL}/@n2:key {key.strip()[:3]} IS NOT THE {MKE}", "MKE"
        )
    _strangers(body, set(_MAIL_TEXTS), mke)
    texts = [element for element in body if match_name(element) in _MAIL_TEXTS]
    if len(texts) != 1:
        detail = f"{MAIL} MUST HOLD ONE {MESSAGE_TEXT}"
        raise MessageError(ErrorCode.TXT_NOT_FOUND, detail, "TXT")
    return text_value(texts[0], MESSAGE_TEXT, strip), False


def parse_xml_input(text: str) -> XmlInput:
    """Read an input in Nlets XML; raises MessageError with the ER of SPEC.md §10.

    The header is checked as :func:`formats.message.parse_input` checks it, with the same
    ER numbers (MKE 0, sender and control .01., destinations .19., no body .03.); a tagged
    query is read into its legacy fields with the text rules' numbers, naming the element.
    """
    root = parse_document(text)
    items = _header(root, ErrorCode.FORMAT)
    mke = _mke(items, ErrorCode.FORMAT)
    body = _body_element(root, ErrorCode.TXT_NOT_FOUND)
    sender = _ori(items, ErrorCode.HEADER)
    control = _control(items, ErrorCode.HEADER)
    dests = _dests(items, mke)
    legacy, tagged = _body_text(body, mke, strip=True)
    return XmlInput(mke, sender, dests, control, legacy, text, tagged)


def _moment(items: dict[str, list[etree._Element]], date_name: str, time_name: str) -> datetime:
    date_text = _one(items, date_name, ErrorCode.FORMAT, "XML")
    time_text = _one(items, time_name, ErrorCode.FORMAT, "XML")
    assert date_text is not None and time_text is not None
    date = _DATE.fullmatch(date_text)
    if date is None:
        raise MessageError(ErrorCode.FORMAT, f"{date_name} MUST BE MM/DD/CCYY", "XML")
    clock = _TIME.fullmatch(time_text)
    if clock is None:
        raise MessageError(ErrorCode.FORMAT, f"{time_name} MUST BE HH:MM", "XML")
    month, day, year = (int(part) for part in date.groups())
    hour, minute = (int(part) for part in clock.groups())
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        raise MessageError(
            ErrorCode.FORMAT, f"{date_name} AND {time_name} HOLD NO REAL DATE AND TIME", "XML"
        ) from None


def _numeric(items: dict[str, list[etree._Element]], name: str) -> int:
    value = _one(items, name, ErrorCode.FORMAT, "XML")
    assert value is not None
    if _NUMERIC.fullmatch(value) is None:
        raise MessageError(ErrorCode.FORMAT, f"{name} MUST BE 5 DIGITS", "XML")
    return int(value)


def parse_xml_output(text: str) -> OutputMessage:
    """Read a delivered output in Nlets XML (for line clients); raises MessageError.

    Sequence numbers come back as 0-99999, as :func:`formats.output.parse_output` gives
    them; the body is the legacy body exactly as it was written.
    """
    root = parse_document(text)
    items = _header(root, ErrorCode.FORMAT)
    mke = _mke(items, ErrorCode.FORMAT)
    sender = _ori(items, ErrorCode.FORMAT)
    dests = items.get(DEST, [])
    if len(dests) != 1:
        raise MessageError(ErrorCode.FORMAT, f"AN OUTPUT HAS ONE {DEST}", "DEST")
    dest = text_value(dests[0], DEST)
    if _DEST_SHAPE.fullmatch(dest) is None:
        raise MessageError(ErrorCode.FORMAT, f"{DEST} INVALID", "DEST")
    control = _control(items, ErrorCode.FORMAT)
    in_time = _moment(items, RECEIVE_DATE, RECEIVE_TIME)
    out_time = _moment(items, SEND_DATE, SEND_TIME)
    in_seq = _numeric(items, RECEIVE_NUMERIC)
    out_seq = _numeric(items, SEND_NUMERIC)
    body, _ = _body_text(_body_element(root, ErrorCode.FORMAT), mke, strip=False)
    return OutputMessage(mke, sender, in_time, in_seq, out_time, out_seq, dest, control, body)


def is_xml_output(text: str) -> bool:
    """Whether an XML text is an output (its header carries the send numbers); a text that
    is no document is not one."""
    try:
        root = parse_document(text)
        items = _header(root, ErrorCode.FORMAT)
    except MessageError:
        return False
    return SEND_NUMERIC in items


# writing


def _element(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def _body_xml(mke: str, body: str, tagged: bool) -> str:
    """The body element of a message: query, response text, or mail. ``tagged``: with the
    tagged form where the key has one and it is exact."""
    if has_inquiry_form(mke):
        inner = (write_inquiry(mke, body) if tagged else None) or _element(DESCRIPTION, body)
        return f"<{INQUIRY}>\n{inner}\n</{INQUIRY}>"
    if mke in RESPONSE_KEYS:
        records = write_records(mke, body) if tagged and has_record_form(mke) else None
        inner = _element(RESPONSE_TEXT, body)
        if records is not None:
            inner = f"{inner}\n{records}"
        return f"<{RESPONSE}>\n{inner}\n</{RESPONSE}>"
    return f'<{MAIL} n2:key="{escape(mke)}">\n{_element(MESSAGE_TEXT, body)}\n</{MAIL}>'


def _document(header: Sequence[str], mke: str, body: str, max_text: int) -> str:
    """The whole document; without the tagged form when that would pass ``max_text``."""
    for tagged in (True, False):
        document = "\n".join(
            [_OPEN, f"<{HEADER}>", *header, f"</{HEADER}>", _body_xml(mke, body, tagged),
             "</n2:NLETS>"]
        )
        if len(document) <= max_text:
            break
    return document


def render_xml_input(msg: InputMessage, max_text: int = DEFAULT_MAX_TEXT) -> str:
    """An input as an Nlets XML document; :func:`parse_xml_input` reads the same values.

    The tagged form is left out when it would make the document longer than ``max_text``
    (the body then goes as text); the document can still be longer when its text is.
    """
    header = [_element(MKE, msg.mke), _element(ORI, msg.sender)]
    header += [_element(DEST, dest) for dest in msg.dests]
    if msg.control:
        header.append(_element(CONTROL, msg.control))
    return _document(header, msg.mke, msg.body, max_text)


def _date(moment: datetime) -> str:
    return f"{moment.month:02d}/{moment.day:02d}/{moment.year:04d}"


def _time(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def render_xml_output(msg: OutputMessage, max_text: int = DEFAULT_MAX_TEXT) -> str:
    """An output as an Nlets XML document: the header with the values of lines 2 and 3 of
    the text header (sequence numbers as 5 digits, wrapping as the text header wraps).

    ``max_text`` as for :func:`render_xml_input`.
    """
    header = [_element(MKE, msg.mke), _element(ORI, msg.sender), _element(DEST, msg.dest)]
    if msg.control:
        header.append(_element(CONTROL, msg.control))
    header += [
        _element(RECEIVE_DATE, _date(msg.in_time)),
        _element(RECEIVE_TIME, _time(msg.in_time)),
        _element(SEND_DATE, _date(msg.out_time)),
        _element(SEND_TIME, _time(msg.out_time)),
        _element(RECEIVE_NUMERIC, seq_text(msg.in_seq)),
        _element(SEND_NUMERIC, seq_text(msg.out_seq)),
    ]
    return _document(header, msg.mke, msg.body, max_text)


# translation


_OUTSIDE_CHARSET: Final = re.compile("[^\x20-\x7e\r\n]")


def _check_charset(text: str) -> None:
    """A message's text holds 7-bit printable ASCII, CR and LF only (ER 0), as a frame."""
    if _OUTSIDE_CHARSET.search(text) is not None:
        raise MessageError(ErrorCode.FORMAT, "TEXT OUTSIDE THE CHARACTER SET")


def read_input(text: str) -> InputMessage:
    """An input in either form: XML when its first non-blank character is ``<``."""
    return parse_xml_input(text) if is_xml(text) else parse_input(text)


def text_to_xml(text: str) -> str:
    """A legacy text input as Nlets XML; raises MessageError when the text is not one."""
    _check_charset(text)
    return render_xml_input(parse_input(text))


def xml_to_text(text: str) -> str:
    """An Nlets XML input as legacy text; raises MessageError when the XML is not one."""
    return _input_text(parse_xml_input(text))


def output_text_to_xml(text: str) -> str:
    """A legacy text output as Nlets XML; raises MessageError when the text is not one."""
    _check_charset(text)
    return render_xml_output(parse_output(text))


def output_xml_to_text(text: str) -> str:
    """An Nlets XML output as legacy text; raises MessageError when the XML is not one."""
    return format_output(parse_xml_output(text))


def tidy_query(msg: InputMessage, today: date) -> InputMessage:
    """A text query laid out the way its tagged form takes it: fields one per line in legacy
    order, a DOB written MMDDYY as CCYYMMDD (the century as of ``today``). The message as it
    is when it is no query or its fields do not read as the key's."""
    tags = INQUIRY_FIELDS.get(msg.mke)
    if tags is None:
        return msg
    try:
        fields = parse_fields(msg.body)
    except MessageError:
        return msg
    if not fields.keys() <= set(tags):
        return msg
    dob = fields.get("DOB")
    if dob is not None and len(dob) == 6:
        # A DOB that is no date stays as written, for the LESC to refuse.
        with contextlib.suppress(MessageError):
            fields["DOB"] = format_ccyymmdd(parse_dob(dob, today))
    return replace(msg, body=format_fields([(tag, fields[tag]) for tag in tags if tag in fields]))


_TEXT_OUTPUT: Final = re.compile("[^\n]*\n[0-9]{2}:[0-9]{2} ")


def convert(text: str, to: str | None = None, today: date | None = None) -> str:
    """One message, input or output, in the other form (or in ``to``: ``xml`` or ``text``).

    An XML text is an output when its header carries the send numbers; a legacy text when
    its second line is a header clock. With ``today``, a text query to XML is first laid out
    by :func:`tidy_query` (for a person converting by hand; the switch translates exactly).
    Raises MessageError when the message is not one, ValueError for another ``to``.
    """
    if to not in (None, "xml", "text"):
        raise ValueError(f"cannot convert to {to!r}: write xml or text")

    def query_to_xml(t: str) -> str:
        _check_charset(t)
        msg = parse_input(t)
        return render_xml_input(msg if today is None else tidy_query(msg, today))

    steps: dict[tuple[bool, bool, str], Callable[[str], str]] = {
        (True, False, "text"): xml_to_text,
        (True, False, "xml"): lambda t: render_xml_input(parse_xml_input(t)),
        (True, True, "text"): output_xml_to_text,
        (True, True, "xml"): lambda t: render_xml_output(parse_xml_output(t)),
        (False, False, "xml"): query_to_xml,
        (False, False, "text"): lambda t: _input_text(parse_input(t)),
        (False, True, "xml"): output_text_to_xml,
        (False, True, "text"): lambda t: format_output(parse_output(t)),
    }
    xml = is_xml(text)
    output = is_xml_output(text) if xml else _TEXT_OUTPUT.match(text) is not None
    return steps[xml, output, to or ("text" if xml else "xml")](text)


def _input_text(msg: InputMessage) -> str:
    return format_input(msg.mke, msg.sender, msg.dests, msg.body, msg.control)
