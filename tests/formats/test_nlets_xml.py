"""Nlets XML messages (SPEC.md §10): reading, writing, ER numbers and the elements they name."""

from dataclasses import replace
from datetime import date, datetime

import pytest
from messages import IAQ_FIELDS, iaq

from formats.errors import ErrorCode, MessageError
from formats.framing import encode_frame
from formats.iaq import validate_iaq
from formats.line_protocol import LineProtocol, Received, Role, SignOnAccepted, Unreadable
from formats.message import format_fields, format_input, parse_fields, parse_input
from formats.nlets_xml import (
    XML,
    XmlInput,
    convert,
    element_path,
    is_xml,
    output_text_to_xml,
    output_xml_to_text,
    parse_xml_input,
    parse_xml_output,
    read_input,
    render_xml_input,
    render_xml_output,
    text_to_xml,
    xml_error,
    xml_to_text,
)
from formats.output import OutputMessage, format_output

TODAY = date(2026, 11, 23)
N2 = "http://www.nlets.org/niem/1.0"
NH2 = "http://www.nlets.org/niem/nlets-hdr/1.0"
NC2 = "http://niem.gov/niem/niem-core/2.0"
NC3 = "http://release.niem.gov/niem/niem-core/3.0/"
J4 = "http://niem.gov/niem/domains/jxdm/4.0"
J5 = "http://release.niem.gov/niem/domains/jxdm/5.0/"

# An IAQ as a state switch writes it: indented, a CDATA control field, the name in parts,
# NIEM 2.0 and 3.0 core mixed, the FBI number inside j:PersonAugmentation, PUR left out.
IAQ_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<n2:NLETS xmlns:n2="{N2}" xmlns:nh2="{NH2}" xmlns:nc="{NC2}" xmlns:j="{J4}" n2:version="4.00">
  <n2:NLETSMessageHeader>
    <nh2:MessageKeyCodeText>IAQ</nh2:MessageKeyCodeText>
    <nh2:OriginatingORIID>CA0340000</nh2:OriginatingORIID>
    <nh2:DestinationORIID>AX</nh2:DestinationORIID>
    <nh2:DocumentControlFieldText>
      <![CDATA[CASE-1]]>
    </nh2:DocumentControlFieldText>
  </n2:NLETSMessageHeader>
  <n2:NLETSInquiryData>
    <n2:ResponseAttentionDescriptionText>DET SMITH</n2:ResponseAttentionDescriptionText>
    <nc:ContactInformation>
      <nc:ContactTelephoneNumber>
        <nc:FullTelephoneNumber>
          <nc:TelephoneNumberFullID>916-555-0100</nc:TelephoneNumberFullID>
        </nc:FullTelephoneNumber>
      </nc:ContactTelephoneNumber>
    </nc:ContactInformation>
    <n2:Person>
      <nc3:PersonName xmlns:nc3="{NC3}">
        <nc3:PersonGivenName>MARIA</nc3:PersonGivenName>
        <nc3:PersonMiddleName>ELENA</nc3:PersonMiddleName>
        <nc3:PersonSurName>GARCIA</nc3:PersonSurName>
      </nc3:PersonName>
      <nc:PersonBirthDate><nc:Date>1985-03-14</nc:Date></nc:PersonBirthDate>
      <j:PersonSexCode>F</j:PersonSexCode>
      <j:PersonBirthPlaceCode>MX</j:PersonBirthPlaceCode>
      <j5:PersonAugmentation xmlns:j5="{J5}">
        <j5:PersonFBIIdentification>
          <nc:IdentificationID>123456AB1</nc:IdentificationID>
        </j5:PersonFBIIdentification>
      </j5:PersonAugmentation>
    </n2:Person>
    <nc:Status><nc:StatusText>N</nc:StatusText></nc:Status>
    <j:ChargeNCICCode>0399</j:ChargeNCICCode>
  </n2:NLETSInquiryData>
</n2:NLETS>
"""
IAQ_BODY = format_fields(
    {"PUR": "C", "ATN": "DET SMITH", "PHN": "916-555-0100", "NAM": "GARCIA, MARIA ELENA",
     "DOB": "19850314", "SEX": "F", "POB": "MX", "CUS": "N", "OFF": "0399", "FBI": "123456AB1"}
)


def document(body: str, header: str | None = None, root: str = f"n2:NLETS xmlns:n2='{N2}'") -> str:
    """A document with the given body element(s) and header items (an AM to TX by default)."""
    if header is None:
        header = ("<nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
                  "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>"
                  "<nh2:DestinationORIID>TX</nh2:DestinationORIID>")
    name = root.split()[0]
    return (f"<{root} xmlns:nh2='{NH2}' xmlns:nc='{NC2}' xmlns:j='{J4}' xmlns:j4='{J4}'>"
            f"<n2:NLETSMessageHeader>{header}</n2:NLETSMessageHeader>{body}</{name}>")


def iaq_document(inquiry: str, mke: str = "IAQ") -> str:
    header = (f"<nh2:MessageKeyCodeText>{mke}</nh2:MessageKeyCodeText>"
              "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>"
              "<nh2:DestinationORIID>AX</nh2:DestinationORIID>")
    return document(f"<n2:NLETSInquiryData>{inquiry}</n2:NLETSInquiryData>", header)


MAIL = "<n2:NLETSMailData n2:key='AM'><nc:MessageText>HELLO</nc:MessageText></n2:NLETSMailData>"


def error(text: str) -> MessageError:
    with pytest.raises(MessageError) as info:
        parse_xml_input(text)
    return info.value


def test_an_iaq_as_states_write_it_reads_as_the_text_iaq() -> None:
    msg = parse_xml_input(IAQ_XML)
    assert (msg.mke, msg.sender, msg.dests, msg.control) == ("IAQ", "CA0340000", ("AX",), "CASE-1")
    assert msg.body == IAQ_BODY
    assert msg.text == IAQ_XML
    assert msg.tagged
    # Every pipeline reads the same fields as from the text form.
    text = parse_input(format_input("IAQ", "CA0340000", ["AX"], IAQ_BODY, "CASE-1"))
    assert validate_iaq(parse_fields(msg.body), TODAY) == validate_iaq(
        parse_fields(text.body), TODAY
    )


def test_is_xml_looks_at_the_first_character() -> None:
    assert is_xml("<n2:NLETS/>") and is_xml("\r\n  <?xml version='1.0'?><a/>")
    assert not is_xml("IAQ.CA0000000.AX.TXT") and not is_xml("") and not is_xml("HB")
    assert read_input(IAQ_XML).body == IAQ_BODY
    assert read_input(iaq("CA0000000")).mke == "IAQ"


def test_full_name_and_purpose() -> None:
    msg = parse_xml_input(iaq_document(
        "<n2:PurposeCode>F</n2:PurposeCode><n2:Person><nc:PersonName>"
        "<nc:PersonFullName>O'BRIEN,PAT</nc:PersonFullName></nc:PersonName></n2:Person>"
    ))
    assert msg.body == "PUR/F.\nNAM/O'BRIEN,PAT."


@pytest.mark.parametrize(
    ("mke", "elements", "body"),
    [
        ("YQ", "<n2:QueryRequestActivity><n2:RequestTypeCode>WP</n2:RequestTypeCode>"
               "<n2:QueryRequestSequenceNumber>2</n2:QueryRequestSequenceNumber>"
               "<n2:PriorityCode>U</n2:PriorityCode></n2:QueryRequestActivity>"
               "<n2:RequestingAgency><nc:OrganizationName>SAC PD</nc:OrganizationName>"
               "</n2:RequestingAgency>"
               "<n2:Person><j:PersonNCICIdentification><nc:IdentificationID>I123456789"
               "</nc:IdentificationID></j:PersonNCICIdentification></n2:Person>",
         "RTY/WP.\nRNO/2.\nPRI/U.\nNIC/I123456789.\nRAG/SAC PD."),
        ("QW", "<n2:Person><j:PersonSexCode>M</j:PersonSexCode><nc:PersonBirthDate><nc:Date>"
               "1990-07-04</nc:Date></nc:PersonBirthDate></n2:Person>",
         "DOB/19900704.\nSEX/M."),
    ],
)
def test_tagged_yq_and_qw(mke: str, elements: str, body: str) -> None:
    assert parse_xml_input(iaq_document(elements, mke)).body == body


@pytest.mark.parametrize(
    ("header", "code", "detail"),
    [
        ("", ErrorCode.FORMAT, "ELEMENT nh2:MessageKeyCodeText MISSING"),
        ("<nh2:MessageKeyCodeText>A1</nh2:MessageKeyCodeText>", ErrorCode.FORMAT,
         "nh2:MessageKeyCodeText MUST BE 2 OR 3 LETTERS"),
        ("<nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>", ErrorCode.HEADER,
         "ELEMENT nh2:OriginatingORIID MISSING"),
        ("<nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
         "<nh2:OriginatingORIID>CA00</nh2:OriginatingORIID>", ErrorCode.HEADER,
         "nh2:OriginatingORIID MUST BE 9 LETTERS OR DIGITS"),
        ("<nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
         "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>"
         "<nh2:DocumentControlFieldText>ABCDEFGHIJK</nh2:DocumentControlFieldText>",
         ErrorCode.HEADER, "nh2:DocumentControlFieldText LONGER THAN 10"),
        ("<nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
         "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>", ErrorCode.DESTINATION,
         "ELEMENT nh2:DestinationORIID MISSING"),
        ("<nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
         "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>"
         + "<nh2:DestinationORIID>TX</nh2:DestinationORIID>" * 6, ErrorCode.DESTINATION,
         "MORE THAN 5 nh2:DestinationORIID ELEMENTS"),
        ("<nh2:MessageKeyCodeText>YQ</nh2:MessageKeyCodeText>"
         "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>"
         + "<nh2:DestinationORIID>TX</nh2:DestinationORIID>" * 4, ErrorCode.DESTINATION,
         "MORE THAN 3 nh2:DestinationORIID ELEMENTS"),
        ("<nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText>"
         "<nh2:OriginatingORIID>CA0000000</nh2:OriginatingORIID>"
         "<nh2:DestinationORIID>T.X</nh2:DestinationORIID>", ErrorCode.DESTINATION,
         "nh2:DestinationORIID 1 INVALID"),
    ],
)
def test_header_faults_have_the_text_numbers(header: str, code: ErrorCode, detail: str) -> None:
    exc = error(document(MAIL, header))
    assert (exc.code, exc.detail) == (code, detail)


def test_no_header_and_no_body() -> None:
    no_header = f"<n2:NLETS xmlns:n2='{N2}' xmlns:nc='{NC2}'>{MAIL}</n2:NLETS>"
    assert error(no_header).detail == "ELEMENT n2:NLETSMessageHeader MISSING"
    assert error(no_header).code is ErrorCode.FORMAT
    exc = error(document(""))
    assert exc.code is ErrorCode.TXT_NOT_FOUND and exc.field == "TXT"
    assert error(document(MAIL + MAIL)).code is ErrorCode.FIELD


def test_mail_key_must_be_the_mke() -> None:
    exc = error(document(MAIL.replace("'AM'", "'AML'")))
    assert exc.code is ErrorCode.HEADER and "n2:key" in exc.detail


def test_nlets_own_mail_and_status_names_are_read() -> None:
    for name in ("n2:MailMessageText", "n2:StatusMessageText"):
        text = document(f"<n2:NLETSMailData><{name}><![CDATA[A <B> & C]]></{name}>"
                        "</n2:NLETSMailData>")
        assert parse_xml_input(text).body == "A <B> & C"


def test_an_element_the_text_cannot_carry_is_refused_not_dropped() -> None:
    exc = error(document("<n2:NLETSMailData><nc:MessageText>A</nc:MessageText><nc:Image/>"
                         "</n2:NLETSMailData>"))
    assert exc.code is ErrorCode.FIELD and "nc:Image NOT ALLOWED IN AM" in exc.detail


@pytest.mark.parametrize(
    ("inquiry", "code", "detail", "field"),
    [
        ("<n2:Person><nc:PersonBirthDate><nc:Date>03/14/1985</nc:Date></nc:PersonBirthDate>"
         "</n2:Person>", ErrorCode.DOB,
         "n2:Person/nc:PersonBirthDate/nc:Date MUST BE CCYY-MM-DD", "DOB"),
        ("<n2:ResponseAttentionDescriptionText> </n2:ResponseAttentionDescriptionText>",
         ErrorCode.FIELD, "ELEMENT n2:ResponseAttentionDescriptionText EMPTY", "ATN"),
        ("<n2:ResponseAttentionDescriptionText>DET. SMITH</n2:ResponseAttentionDescriptionText>",
         ErrorCode.FIELD,
         "n2:ResponseAttentionDescriptionText MUST NOT HOLD A PERIOD OR A LINE BREAK", "ATN"),
        ("<j:ChargeNCICCode>0399</j:ChargeNCICCode><j:ChargeNCICCode>0399</j:ChargeNCICCode>",
         ErrorCode.FIELD, "ELEMENT j4:ChargeNCICCode REPEATED", "OFF"),
        ("<n2:Person><nc:PersonHairColorText>BRO</nc:PersonHairColorText></n2:Person>",
         ErrorCode.FIELD, "ELEMENT n2:Person/nc:PersonHairColorText NOT ALLOWED IN IAQ", "XML"),
        ("<n2:Person><nc:PersonName><nc:PersonGivenName>A</nc:PersonGivenName>"
         "</nc:PersonName></n2:Person>", ErrorCode.MISSING,
         "ELEMENT n2:Person/nc:PersonName/nc:PersonSurName MISSING", "NAM"),
        ("<n2:Person><nc:PersonName><nc:PersonFullName>A, B</nc:PersonFullName>"
         "<nc:PersonSurName>A</nc:PersonSurName></nc:PersonName></n2:Person>", ErrorCode.FIELD,
         "n2:Person/nc:PersonName MUST HOLD nc:PersonFullName OR ITS PARTS, NOT BOTH", "NAM"),
        ("<n2:RemarksText>SEE REM/ X</n2:RemarksText><j:ChargeNCICCode>REM/</j:ChargeNCICCode>",
         ErrorCode.FIELD, "j4:ChargeNCICCode MUST NOT HOLD REM/", "OFF"),
        ("<j:ChargeNCICCode><nc:X/></j:ChargeNCICCode>", ErrorCode.FIELD,
         "ELEMENT j:ChargeNCICCode MUST HOLD TEXT ONLY", "OFF"),
    ],
)
def test_element_faults_have_the_text_numbers(
    inquiry: str, code: ErrorCode, detail: str, field: str
) -> None:
    exc = error(iaq_document(inquiry))
    assert (exc.code, exc.detail, exc.field) == (code, detail, field)


def test_nlets_elements_are_matched_on_their_namespace() -> None:
    # n2:Person in another namespace is not n2:Person; NIEM elements are matched by name alone.
    exc = error(iaq_document("<nc:Person><nc:PersonSexCode>M</nc:PersonSexCode></nc:Person>"))
    assert exc.detail == "ELEMENT nc:Person NOT ALLOWED IN IAQ"
    wrong_header = document(MAIL).replace(f"xmlns:nh2='{NH2}'", f"xmlns:nh2='{NC2}'")
    assert error(wrong_header).detail == "ELEMENT nh2:MessageKeyCodeText MISSING"


def test_pipeline_errors_name_the_element() -> None:
    msg = parse_xml_input(IAQ_XML.replace("DET SMITH", "D" * 31))
    with pytest.raises(MessageError) as info:
        validate_iaq(parse_fields(msg.body), TODAY)
    renamed = xml_error(info.value, msg.tagged)
    assert renamed.code is ErrorCode.ATN
    assert renamed.detail == "n2:ResponseAttentionDescriptionText LONGER THAN 30"
    missing = xml_error(MessageError(ErrorCode.MISSING, "FIELD CUS/ MISSING", "CUS"))
    assert missing.detail == "ELEMENT nc:Status/nc:StatusText MISSING"
    dest = xml_error(MessageError(ErrorCode.DESTINATION, "DESTINATION ZZ UNKNOWN", "DEST"))
    assert dest.detail == "DESTINATION ZZ UNKNOWN (nh2:DestinationORIID)"
    # Legacy text carried in the document keeps the legacy names; header items never do.
    untagged = MessageError(ErrorCode.MISSING, "FIELD CUS/ MISSING", "CUS")
    assert xml_error(untagged, tagged=False) is untagged
    assert "nh2:MessageKeyCodeText" in xml_error(
        MessageError(ErrorCode.TYPE_NOT_ALLOWED, "AM NOT TAKEN BY AX", "MKE"), tagged=False
    ).detail
    assert element_path("NAM") == "n2:Person/nc:PersonName"
    assert element_path("XYZ") is None


def test_legacy_text_inside_the_document() -> None:
    body = "PUR/C.ATN/DET SMITH."
    msg = parse_xml_input(iaq_document(f"<n2:InquiryDescriptionText>{body}"
                                       "</n2:InquiryDescriptionText>"))
    assert msg.body == body and not msg.tagged
    # Any key may carry its text so, Nlets' generic query (LQ) among them.
    assert parse_xml_input(iaq_document(
        "<n2:InquiryDescriptionText>X</n2:InquiryDescriptionText>", "DQ")).body == "X"
    exc = error(iaq_document("<n2:PurposeCode>C</n2:PurposeCode>", "DQ"))
    assert exc.code is ErrorCode.FIELD and "DQ HAS NO TAGGED FORM" in exc.detail


def test_a_forwarded_query_without_an_exact_tagged_form_goes_as_text() -> None:
    # MMDDYY has no CCYY-MM-DD without guessing the century: the text travels as it is.
    text = iaq("CA0000000", dob="031485", control="X1")
    xml = text_to_xml(text)
    assert "<n2:InquiryDescriptionText>" in xml and "<n2:Person>" not in xml
    assert xml_to_text(xml) == text
    tagged = text_to_xml(iaq("CA0000000"))
    assert "<nc:Date>1985-03-14</nc:Date>" in tagged
    assert xml_to_text(tagged) == iaq("CA0000000")


def test_text_to_xml_refuses_what_no_frame_could_hold() -> None:
    with pytest.raises(MessageError) as info:
        text_to_xml(iaq("CA0000000", atn="D\u00e9T"))
    assert info.value.code is ErrorCode.FORMAT


OUTPUT = OutputMessage(
    mke="IAR", sender="VTINS07S0", in_time=datetime(2026, 11, 23, 14, 2),
    in_seq=123_456, out_time=datetime(2026, 11, 23, 14, 3), out_seq=100_002,
    dest="CA0340000", control="CASE-1",
    body="NAM/GARCIA, MARIA ELENA.\nDOB/19850314.\nSEX/F.\nLCN/0000000001.\nSTS/NRF.\n"
    "A < B & C\r\n",
)


def test_output_header_carries_the_text_header_values() -> None:
    xml = render_xml_output(OUTPUT)
    for element in (
        "<nh2:MessageReceiveDate>11/23/2026</nh2:MessageReceiveDate>",
        "<nh2:MessageReceiveTime>14:02</nh2:MessageReceiveTime>",
        "<nh2:MessageSendDate>11/23/2026</nh2:MessageSendDate>",
        "<nh2:MessageSendTime>14:03</nh2:MessageSendTime>",
        "<nh2:ReceiveMessageNumeric>23456</nh2:ReceiveMessageNumeric>",
        "<nh2:SendMessageNumeric>00002</nh2:SendMessageNumeric>",
        "<n2:NLETSResponseData>\n<n2:ResponseText>NAM/GARCIA",
    ):
        assert element in xml
    back = parse_xml_output(xml)
    assert back == replace(OUTPUT, in_seq=23_456, out_seq=2)
    assert output_xml_to_text(xml) == format_output(OUTPUT)
    assert output_text_to_xml(format_output(OUTPUT)) == xml


def test_am_output_is_mail_and_forwarded_queries_are_inquiries() -> None:
    am = render_xml_output(replace(OUTPUT, mke="AM", body="HELLO"))
    assert '<n2:NLETSMailData n2:key="AM">\n<nc:MessageText>HELLO</nc:MessageText>' in am
    yq = render_xml_output(replace(OUTPUT, mke="QW", body="NAM/DOE, J.\nDOB/19800101."))
    assert "<n2:NLETSInquiryData>\n<n2:Person>" in yq
    assert parse_xml_output(yq).body == "NAM/DOE, J.\nDOB/19800101."


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (("14:03<", "14:3<"), "nh2:MessageSendTime MUST BE HH:MM"),
        (("11/23/2026</nh2:MessageReceiveDate", "02/30/2026</nh2:MessageReceiveDate"),
         "nh2:MessageReceiveDate AND nh2:MessageReceiveTime HOLD NO REAL DATE AND TIME"),
        (("<nh2:SendMessageNumeric>00002", "<nh2:SendMessageNumeric>2"),
         "nh2:SendMessageNumeric MUST BE 5 DIGITS"),
        (("<nh2:ReceiveMessageNumeric>23456</nh2:ReceiveMessageNumeric>", ""),
         "ELEMENT nh2:ReceiveMessageNumeric MISSING"),
    ],
)
def test_output_header_faults(change: tuple[str, str], detail: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_xml_output(render_xml_output(OUTPUT).replace(*change))
    assert info.value.detail == detail


def test_tagged_records_go_beside_the_response_text() -> None:
    body = ("RTY/WP.\nRNO/1.\nOCA/CASE42.\nNIC/I123456789.\nNAM/SMITH, JOHN.\nSTA/CONFIRMED.\n"
            "NAO/LESC HIT CONFIRMATION UNIT.\nDTN/Y.\nHIT CONFIRMED.")
    xml = render_xml_output(replace(OUTPUT, mke="YR", body=body))
    assert "<n2:HitConfirmationStatusText>CONFIRMED</n2:HitConfirmationStatusText>" in xml
    assert "<n2:ResponseSummaryText>HIT CONFIRMED.</n2:ResponseSummaryText>" in xml
    assert parse_xml_output(xml).body == body
    # A line may send the tagged form alone; it is read back into the same text.
    start = xml.index("<n2:HitConfirmation>")
    alone = document(f"<n2:NLETSResponseData>{xml[start:xml.index('</n2:NLETSResponseData>')]}"
                     "</n2:NLETSResponseData>",
                     "<nh2:MessageKeyCodeText>YR</nh2:MessageKeyCodeText>"
                     "<nh2:OriginatingORIID>TX0000000</nh2:OriginatingORIID>"
                     "<nh2:DestinationORIID>CA0000000</nh2:DestinationORIID>")
    msg = parse_xml_input(alone)
    assert msg.body == body and msg.tagged
    # A body that does not read back exactly has its text only.
    odd = render_xml_output(replace(OUTPUT, mke="YR", body="STA/CONFIRMED.\nRTY/WP."))
    assert "<n2:HitConfirmation>" not in odd


def test_tagged_forms_are_left_out_beyond_the_maximum_frame() -> None:
    hit = ("MKE/IMMIGRATION VIOLATOR - ABSCONDER.\nNIC/I000000001.\nNAM/DOE, JOHN.\n"
           "DOB/19800101.\nSEX/M.\nPOB/MX.\nARN/A012345678.\nCONFIRM HIT")
    qr = replace(OUTPUT, mke="QR", body="\n\n".join([hit] * 3))
    assert "<n2:NCICRecord>" in render_xml_output(qr)
    short = render_xml_output(qr, max_text=1500)
    assert "<n2:NCICRecord>" not in short and parse_xml_output(short).body == qr.body
    tagged = render_xml_input(parse_input(iaq("CA0000000")))
    assert "<n2:Person>" not in render_xml_input(parse_input(iaq("CA0000000")), len(tagged) - 1)


def test_the_xml_codec_reads_outputs_on_a_line() -> None:
    line = LineProtocol(Role.LINE, XML)
    assert line.receive_data(encode_frame("SIGNON OK CA 99998")) == [SignOnAccepted("CA", 99998)]
    xml = render_xml_output(replace(OUTPUT, out_seq=100_001))
    [received] = line.receive_data(encode_frame(xml))
    assert isinstance(received, Received)
    assert received.seq == 100_001 and received.message.body == OUTPUT.body
    # The text form is read too: an XML line gets it for an output too long for a document.
    [text] = line.receive_data(encode_frame(format_output(replace(OUTPUT, out_seq=100_002))))
    assert isinstance(text, Received) and text.seq == 100_002
    [bad] = line.receive_data(encode_frame("NOT AN OUTPUT"))
    assert isinstance(bad, Unreadable)
    assert parse_xml_input(XML.write_input(parse_input(iaq("CA0000000")))).body == parse_input(
        iaq("CA0000000")).body


@pytest.mark.parametrize(
    ("text", "to", "expected"),
    [
        (iaq("CA0000000"), None, text_to_xml(iaq("CA0000000"))),
        (iaq("CA0000000"), "text", format_input("IAQ", "CA0000000", ["AX"],
                                                format_fields(IAQ_FIELDS))),
        (IAQ_XML, None, format_input("IAQ", "CA0340000", ["AX"], IAQ_BODY, "CASE-1")),
        (IAQ_XML, "xml", render_xml_input(parse_xml_input(IAQ_XML))),
        (format_output(OUTPUT), None, render_xml_output(OUTPUT)),
        (render_xml_output(OUTPUT), None, format_output(replace(OUTPUT, in_seq=23_456,
                                                                out_seq=2))),
        (render_xml_output(OUTPUT), "xml", render_xml_output(OUTPUT)),
        (format_output(OUTPUT), "text", format_output(OUTPUT)),
    ],
)
def test_convert_finds_the_form_and_the_direction(text: str, to: str | None, expected: str) -> None:
    assert convert(text, to) == expected


def test_convert_refuses_an_unknown_form() -> None:
    with pytest.raises(ValueError, match="write xml or text"):
        convert(iaq("CA0000000"), "json")


def test_xml_input_is_an_input_message() -> None:
    msg = parse_xml_input(IAQ_XML)
    assert isinstance(msg, XmlInput)
    assert parse_xml_input(render_xml_input(msg)).body == msg.body
