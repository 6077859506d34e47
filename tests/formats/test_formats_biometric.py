"""The fields of a biometric IAQ: BOR/ (the booking ORI) in text and in XML, and what a
biometric IAQ must carry."""

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.errors import ErrorCode, MessageError
from formats.iaq import check_biometric, validate_iaq
from formats.message import format_fields, format_input, parse_fields
from formats.nlets_xml import parse_xml_input, text_to_xml, xml_error

TODAY = date(2026, 5, 9)
FIELDS = {
    "PUR": "C", "ATN": "FBI CJIS DIVISION", "PHN": "304-625-5590", "NAM": "LOPEZ, CARLOS",
    "DOB": "19750505", "SEX": "M", "POB": "MX", "CUS": "Y", "OFF": "0399",
    "FBI": "123456AB7", "SID": "CA12345678", "BOR": "CA0190100",
}  # fmt: skip
N2 = "http://www.nlets.org/niem/1.0"
NH2 = "http://www.nlets.org/niem/nlets-hdr/1.0"
NC = "http://niem.gov/niem/niem-core/2.0"
J4 = "http://niem.gov/niem/domains/jxdm/4.0"
oris = st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}", fullmatch=True)


def fields(**changes: str | None) -> dict[str, str]:
    """The biometric IAQ's fields with some set (or removed when None)."""
    values = dict(FIELDS)
    for tag, value in changes.items():
        if value is None:
            values.pop(tag, None)
        else:
            values[tag] = value
    return values


def refusal(values: dict[str, str]) -> MessageError:
    with pytest.raises(MessageError) as info:
        check_biometric(values, validate_iaq(values, TODAY))
    return info.value


@given(oris)
def test_any_ori_is_a_booking_ori(ori: str) -> None:
    values = fields(BOR=ori)
    iaq = validate_iaq(values, TODAY)
    assert iaq.bor == ori
    assert check_biometric(values, iaq) == ori


@given(st.text(min_size=1, max_size=12).filter(lambda value: "." not in value))
def test_anything_else_is_refused(value: str) -> None:
    values = fields(BOR=value)
    if re.fullmatch("[A-Z]{2}[A-Z0-9]{7}", value):
        return
    with pytest.raises(MessageError) as info:
        validate_iaq(values, TODAY)
    assert info.value.code == ErrorCode.FIELD
    assert info.value.detail == "BOR/ MUST BE A 9-CHARACTER ORI"


def test_an_iaq_without_bor_has_none() -> None:
    assert validate_iaq(fields(BOR=None), TODAY).bor is None


@pytest.mark.parametrize("tag", ["FBI", "SID", "BOR"])
def test_a_biometric_iaq_carries_fbi_sid_and_bor(tag: str) -> None:
    error = refusal(fields(**{tag: None}))
    assert (error.code, error.field) == (ErrorCode.MISSING, tag)
    assert error.detail == f"FIELD {tag}/ MISSING"


def test_a_biometric_iaq_is_criminal_justice() -> None:
    error = refusal(fields(PUR="F"))
    assert (error.code, error.detail) == (ErrorCode.FIELD, "PUR/ MUST BE C IN A BIOMETRIC IAQ")


def xml_iaq(booking: str) -> str:
    """A tagged biometric IAQ as a state writes it: the ORI inside NIEM's augmentation."""
    return (
        f"<n2:NLETS xmlns:n2='{N2}' xmlns:nh2='{NH2}' xmlns:nc='{NC}' xmlns:j4='{J4}'>"
        "<n2:NLETSMessageHeader><nh2:MessageKeyCodeText>IAQ</nh2:MessageKeyCodeText>"
        "<nh2:OriginatingORIID>WVIAFIS0Z</nh2:OriginatingORIID>"
        "<nh2:DestinationORIID>AX</nh2:DestinationORIID></n2:NLETSMessageHeader>"
        "<n2:NLETSInquiryData><n2:ResponseAttentionDescriptionText>FBI CJIS DIVISION"
        "</n2:ResponseAttentionDescriptionText><nc:ContactInformation><nc:ContactTelephoneNumber>"
        "<nc:FullTelephoneNumber><nc:TelephoneNumberFullID>304-625-5590</nc:TelephoneNumberFullID>"
        "</nc:FullTelephoneNumber></nc:ContactTelephoneNumber></nc:ContactInformation>"
        "<n2:Person><nc:PersonName><nc:PersonSurName>LOPEZ</nc:PersonSurName>"
        "<nc:PersonGivenName>CARLOS</nc:PersonGivenName></nc:PersonName>"
        "<nc:PersonBirthDate><nc:Date>1975-05-05</nc:Date></nc:PersonBirthDate>"
        "<j4:PersonSexCode>M</j4:PersonSexCode><j4:PersonBirthPlaceCode>MX</j4:PersonBirthPlaceCode>"
        "<j4:PersonFBIIdentification><nc:IdentificationID>123456AB7</nc:IdentificationID>"
        "</j4:PersonFBIIdentification><j4:PersonStateFingerprintIdentification>"
        "<nc:IdentificationID>CA12345678</nc:IdentificationID>"
        "</j4:PersonStateFingerprintIdentification></n2:Person>"
        "<nc:Status><nc:StatusText>Y</nc:StatusText></nc:Status>"
        "<j4:ChargeNCICCode>0399</j4:ChargeNCICCode>"
        "<j4:Booking><j4:BookingAgency><j4:OrganizationAugmentation>"
        "<j4:OrganizationORIIdentification><nc:IdentificationID>"
        f"{booking}</nc:IdentificationID></j4:OrganizationORIIdentification>"
        "</j4:OrganizationAugmentation></j4:BookingAgency></j4:Booking>"
        "</n2:NLETSInquiryData></n2:NLETS>"
    )


def test_xml_booking_agency_reads_as_bor() -> None:
    msg = parse_xml_input(xml_iaq("CA0190100"))
    assert msg.tagged and parse_fields(msg.body) == fields()


def test_a_bad_xml_booking_ori_names_its_element() -> None:
    msg = parse_xml_input(xml_iaq("CA01"))
    with pytest.raises(MessageError) as info:
        validate_iaq(parse_fields(msg.body), TODAY)
    error = xml_error(info.value, msg.tagged)
    assert error.detail == (
        "j4:Booking/j4:BookingAgency/j4:OrganizationORIIdentification/nc:IdentificationID"
        " MUST BE A 9-CHARACTER ORI"
    )


@given(oris, st.booleans())
def test_text_to_xml_and_back_keeps_bor(booking: str, with_rem: bool) -> None:
    values = fields(BOR=booking, REM="FINGERPRINT MATCH" if with_rem else None)
    text = format_input("IAQ", "WVIAFIS0Z", ["AX"], format_fields(values))
    xml = text_to_xml(text)
    assert f"<nc:IdentificationID>{booking}</nc:IdentificationID>" in xml
    assert "<j4:BookingAgency>" in xml
    msg = parse_xml_input(xml)
    assert msg.tagged and parse_fields(msg.body) == values
