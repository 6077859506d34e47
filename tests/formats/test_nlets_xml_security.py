"""Hostile Nlets XML documents (SPEC.md §10): each gets its ER, nothing is resolved or fetched."""

import socket
import time

import pytest
from lxml import etree

from formats.errors import ErrorCode, MessageError
from formats.framing import DEFAULT_MAX_TEXT
from formats.nlets_xml import MAX_ATTRIBUTE, MAX_DEPTH, parse_xml_input, parse_xml_output
from formats.nlets_xml.document import PARSER

N2 = "http://www.nlets.org/niem/1.0"
NH2 = "http://www.nlets.org/niem/nlets-hdr/1.0"
HEADER = ("<n2:NLETSMessageHeader><nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
          "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>"
          "<nh2:DestinationORIID>TX</nh2:DestinationORIID></n2:NLETSMessageHeader>")


NC2 = "http://niem.gov/niem/niem-core/2.0"


def am(text: str, *, prolog: str = "", attributes: str = "", nc: str = NC2) -> str:
    """An AM whose text is ``text`` (markup allowed), after ``prolog``."""
    return (f"{prolog}<n2:NLETS xmlns:n2='{N2}' xmlns:nh2='{NH2}' xmlns:nc='{nc}'{attributes}>"
            f"{HEADER}<n2:NLETSMailData n2:key='AM'><nc:MessageText>{text}</nc:MessageText>"
            "</n2:NLETSMailData></n2:NLETS>")


def error(text: str) -> MessageError:
    with pytest.raises(MessageError) as info:
        parse_xml_input(text)
    assert "\n" not in info.value.detail
    return info.value


def nothing_connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def test_a_plain_am_reads() -> None:
    assert parse_xml_input(am("HELLO <!-- a comment --> THERE")).body == "HELLO  THERE"


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE n2:NLETS [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE n2:NLETS [<!ENTITY x PUBLIC "-//X//EN" "file:///etc/passwd">]>',
        '<?xml version="1.0"?>\n<!-- first -->\n<!DOCTYPE n2:NLETS [<!ENTITY x "X">]>',
        '<!DOCTYPE n2:NLETS SYSTEM "file:///etc/passwd">',
    ],
)
def test_xxe_from_a_file_is_format_error_zero(prolog: str) -> None:
    exc = error(am("&x;", prolog=prolog))
    assert exc.code is ErrorCode.FORMAT
    assert exc.detail == "XML DOCUMENT TYPE DECLARATION NOT ALLOWED"


def test_xxe_over_the_network_fetches_nothing(listener: tuple[socket.socket, int]) -> None:
    server, port = listener
    url = f"http://127.0.0.1:{port}/evil.dtd"
    for prolog in (f'<!DOCTYPE n2:NLETS SYSTEM "{url}">',
                   f'<!DOCTYPE n2:NLETS [<!ENTITY % p SYSTEM "{url}"> %p;]>',
                   f'<!DOCTYPE n2:NLETS [<!ENTITY x SYSTEM "{url}">]>'):
        assert error(am("&x;", prolog=prolog)).code is ErrorCode.FORMAT
    stylesheet = f'<?xml-stylesheet type="text/xsl" href="{url}"?>'
    assert parse_xml_input(am("OK", prolog=stylesheet)).body == "OK"
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    schema = f" xmlns:xsi='{xsi}' xsi:schemaLocation='{N2} {url}'"
    assert parse_xml_input(am("OK", attributes=schema)).body == "OK"
    assert nothing_connected(server)


def test_the_parser_alone_fetches_nothing_either(listener: tuple[socket.socket, int]) -> None:
    # The prolog check refuses a DOCTYPE first; the parser behind it must not fetch either.
    server, port = listener
    url = f"http://127.0.0.1:{port}/evil.dtd"
    for document in (f'<!DOCTYPE r SYSTEM "{url}"><r/>',
                     f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}"> %p;]><r/>',
                     f'<!DOCTYPE r [<!ENTITY x SYSTEM "{url}">]><r>&x;</r>',
                     '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'):
        try:
            root = etree.fromstring(document.encode(), PARSER)
        except etree.XMLSyntaxError:
            continue
        assert "root:" not in etree.tostring(root, encoding="unicode")
    assert nothing_connected(server)


def test_billion_laughs_is_refused_at_once() -> None:
    entities = '<!ENTITY l0 "HA">' + "".join(
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)
    )
    started = time.perf_counter()
    exc = error(am("&l9;", prolog=f"<!DOCTYPE n2:NLETS [{entities}]>"))
    assert exc.code is ErrorCode.FORMAT
    assert time.perf_counter() - started < 0.5


def test_quadratic_blowup_is_refused() -> None:
    prolog = f'<!DOCTYPE n2:NLETS [<!ENTITY a "{"A" * 5000}">]>'
    text = am("&a;" * 2000, prolog=prolog)
    assert len(text) < DEFAULT_MAX_TEXT
    assert error(text).code is ErrorCode.FORMAT


def test_deep_nesting_is_format_error_zero() -> None:
    shallow = error(am("<a>" * (MAX_DEPTH - 5) + "X" + "</a>" * (MAX_DEPTH - 5)))
    assert (shallow.code, shallow.detail) == (
        ErrorCode.FIELD, "ELEMENT nc:MessageText MUST HOLD TEXT ONLY"
    )
    for depth in (MAX_DEPTH, 300, 3000):
        exc = error(am("<a>" * depth + "</a>" * depth))
        assert exc.code is ErrorCode.FORMAT
        assert "DEEPER" in exc.detail or "LIMITS" in exc.detail


def test_huge_attributes_are_format_error_zero() -> None:
    fine = f" data='{'x' * MAX_ATTRIBUTE}'"
    assert parse_xml_input(am("OK", attributes=fine)).body == "OK"
    for size in (MAX_ATTRIBUTE + 1, DEFAULT_MAX_TEXT - 1000):
        exc = error(am("OK", attributes=f" data='{'x' * size}'"))
        assert exc.detail == f"XML ATTRIBUTE LONGER THAN {MAX_ATTRIBUTE}"


def test_xinclude_is_an_external_reference() -> None:
    include = ("<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='/etc/passwd' "
               "parse='text'/>")
    exc = error(am(include))
    assert (exc.code, exc.detail) == (ErrorCode.FORMAT, "XML EXTERNAL REFERENCE NOT ALLOWED")


@pytest.mark.parametrize(
    "text",
    [
        "<",
        "<n2:NLETS",
        "<n2:NLETS xmlns:n2='http://www.nlets.org/niem/1.0'>",
        am("A") + "<more/>",
        am("<b>A</c>"),
        am("&undeclared;"),
        am("&#1;"),
        '<?xml version="1.0" encoding="UTF-16"?>' + am("A"),
        '<?xml version="1.0" encoding="NO-SUCH-ENCODING"?>' + am("A"),
        "<?xml version='1.0'",
        "<!-- never closed",
        "<!ELEMENT x ANY>" + am("A"),
    ],
)
def test_not_well_formed_is_txt_not_found(text: str) -> None:
    exc = error(text)
    assert exc.code is ErrorCode.TXT_NOT_FOUND
    assert exc.detail.startswith("IMPROPERLY FORMED XML")


@pytest.mark.parametrize(
    "root",
    [
        "<NLETS>", "<n2:NLETS xmlns:n2='http://www.nlets.org/niem/2.0'>",
        "<n2:NLETS xmlns:n2='http://niem.gov/niem/niem-core/2.0'>",
        f"<n2:Message xmlns:n2='{N2}'>",
    ],
)
def test_a_root_other_than_n2_nlets_is_txt_not_found(root: str) -> None:
    name = root[1:].split()[0].rstrip(">")
    exc = error(f"{root}{HEADER.replace('nh2:', '').replace('n2:', '')}</{name}>")
    assert (exc.code, exc.detail) == (
        ErrorCode.TXT_NOT_FOUND, "IMPROPERLY FORMED XML: ROOT ELEMENT MUST BE n2:NLETS"
    )
    with pytest.raises(MessageError):
        parse_xml_output(f"{root}</{name}>")


def test_characters_outside_the_character_set_are_format_error_zero() -> None:
    for reference in ("&#233;", "&#x7F;", "&#9;", "\u00e9"):
        exc = error(am(f"CAF{reference}E"))
        assert exc.code is ErrorCode.FORMAT and "CHARACTER SET" in exc.detail


@pytest.mark.parametrize(
    "nc",
    [
        "http://niem.gov/niem/niem-core/2.0",
        "http://release.niem.gov/niem/niem-core/3.0/",
        "http://release.niem.gov/niem/niem-core/4.0/",
        "https://docs.oasis-open.org/niemopen/ns/model/niem-core/6.0/",
    ],
)
def test_niem_releases_are_matched_by_local_name(nc: str) -> None:
    assert parse_xml_input(am("HELLO", nc=nc)).body == "HELLO"


def test_a_document_of_the_maximum_frame_parses_quickly() -> None:
    text = am("A" * (DEFAULT_MAX_TEXT - len(am(""))))
    assert len(text) == DEFAULT_MAX_TEXT
    started = time.perf_counter()
    assert len(parse_xml_input(text).body) == DEFAULT_MAX_TEXT - len(am(""))
    assert time.perf_counter() - started < 0.1
