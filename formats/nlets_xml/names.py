"""Which element carries which legacy field (docs/xml.md has the tables and their sources).

One table for every key: a legacy tag means the same element wherever it appears, so an ER
about a field names its element without knowing the message key.
"""

from typing import Final

from formats.errors import MessageError

PERSON: Final = "n2:Person"
PERSON_NAME: Final = (PERSON, "nc:PersonName")
NAME_PARTS: Final = ("nc:PersonSurName", "nc:PersonGivenName", "nc:PersonMiddleName")
FULL_NAME: Final = "nc:PersonFullName"
_PHONE: Final = ("nc:ContactTelephoneNumber", "nc:FullTelephoneNumber", "nc:TelephoneNumberFullID")
_REQUEST: Final = "n2:QueryRequestActivity"
_AGENCY: Final = "n2:RequestingAgency"
_AGENCY_CONTACT: Final = (_AGENCY, "nc:OrganizationPrimaryContactInformation")
_ID: Final = "nc:IdentificationID"

# Legacy tag → element path under the body element. NAM's element holds the name's parts or
# the full name (names.NAME_PARTS, FULL_NAME); DOB's holds CCYY-MM-DD.
FIELD_ELEMENTS: Final[dict[str, tuple[str, ...]]] = {
    "PUR": ("n2:PurposeCode",),
    "ATN": ("n2:ResponseAttentionDescriptionText",),
    "PHN": ("nc:ContactInformation", *_PHONE),
    "NAM": PERSON_NAME,
    "DOB": (PERSON, "nc:PersonBirthDate", "nc:Date"),
    "SEX": (PERSON, "j4:PersonSexCode"),
    "POB": (PERSON, "j4:PersonBirthPlaceCode"),
    "CUS": ("nc:Status", "nc:StatusText"),
    "OFF": ("j4:ChargeNCICCode",),
    "ARN": (PERSON, "im:AlienNumber", _ID),
    "FBI": (PERSON, "j4:PersonFBIIdentification", _ID),
    "SID": (PERSON, "j4:PersonStateFingerprintIdentification", _ID),
    # The booking agency's ORI (biometric IAQ); NIEM's ORI sits in j4:OrganizationAugmentation,
    # a wrapper the reader passes over (docs/xml.md).
    "BOR": ("j4:Booking", "j4:BookingAgency", "j4:OrganizationORIIdentification", _ID),
    "OLN": (PERSON, "nc:DriverLicense", "nc:DriverLicenseIdentification", _ID),
    "OLS": (PERSON, "nc:DriverLicense", "nc:DriverLicenseIdentification",
            "j4:IdentificationJurisdictionNCICLISCode"),
    "SOC": (PERSON, "nc:PersonSSNIdentification", _ID),
    "MNU": (PERSON, "nc:PersonOtherIdentification", _ID),
    "CTZ": (PERSON, "nc:PersonCitizenshipText"),
    "OCA": ("nc:Incident", "nc:ActivityIdentification", _ID),
    "REM": ("n2:RemarksText",),
    "RTY": (_REQUEST, "n2:RequestTypeCode"),
    "RNO": (_REQUEST, "n2:QueryRequestSequenceNumber"),
    "PRI": (_REQUEST, "n2:PriorityCode"),
    "NIC": (PERSON, "j4:PersonNCICIdentification", _ID),
    "RNA": (*_AGENCY_CONTACT, "nc:ContactEntity", "nc:EntityPerson", "nc:PersonName", FULL_NAME),
    "RAG": (_AGENCY, "nc:OrganizationName"),
    "PHO": (*_AGENCY_CONTACT, *_PHONE),
    "STA": ("n2:HitConfirmationStatusText",),
    "RTM": ("n2:HitConfirmationResponseTimeText",),
    "NAO": ("n2:ConfirmingPerson", "nc:PersonName", FULL_NAME),
    "DTN": ("n2:DetainerLodgedCode",),
}
# A QR hit's MKE/ field (the NCIC record's key), apart: MKE is also the header item.
RECORD_KEY: Final = ("n2:NCICRecordMessageKeyText",)

# The fields of each tagged form, in legacy order (SPEC.md §3, §4, §6).
INQUIRY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "IAQ": ("PUR", "ATN", "PHN", "NAM", "DOB", "SEX", "POB", "CUS", "OFF", "ARN", "FBI",
            "SID", "BOR", "OLN", "OLS", "SOC", "MNU", "CTZ", "OCA", "REM"),
    "YQ": ("RTY", "RNO", "PRI", "OCA", "NIC", "NAM", "DOB", "SEX", "RNA", "RAG", "PHO", "REM"),
    "QW": ("NAM", "DOB", "SEX"),
}
RESPONSE_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "YR": ("RTY", "RNO", "OCA", "NIC", "NAM", "STA", "RTM", "NAO", "DTN"),
    "QR": ("MKE", "NIC", "NAM", "DOB", "SEX", "POB", "ARN"),
}
# The element that holds one record of a tagged response (a YR, one QR hit).
RECORD_ELEMENT: Final = {"YR": "n2:HitConfirmation", "QR": "n2:NCICRecord"}
HEADING: Final = "n2:ResponseHeadingText"
SUMMARY: Final = "n2:ResponseSummaryText"

# The header items of SPEC.md §3 (MessageError.field) and their elements.
HEADER_ELEMENTS: Final = {
    "MKE": "nh2:MessageKeyCodeText",
    "ORI": "nh2:OriginatingORIID",
    "DEST": "nh2:DestinationORIID",
    "CONTROL": "nh2:DocumentControlFieldText",
    "TXT": "n2:NLETSInquiryData, n2:NLETSResponseData or n2:NLETSMailData",
}
PURPOSE_DEFAULT: Final = "C"


def element_path(tag: str) -> str | None:
    """The element that carries a legacy field or header item, as ``a/b/c``; None if none."""
    header = HEADER_ELEMENTS.get(tag)
    if header is not None:
        return header
    path = FIELD_ELEMENTS.get(tag)
    return None if path is None else "/".join(path)


def xml_error(exc: MessageError, tagged: bool = True) -> MessageError:
    """The same error for an XML input: same ER number, the detail naming the element.

    Header items are always named by their element; a legacy field only when ``tagged``
    (the input's fields came from tagged elements, not from legacy text carried in the
    document): ``FIELD ATN/ MISSING`` becomes ``ELEMENT n2:ResponseAttentionDescriptionText
    MISSING``. An error that names its element already is returned as it is.
    """
    field = exc.field
    if field is None or (not tagged and field not in HEADER_ELEMENTS):
        return exc
    path = element_path(field)
    if path is None or path in exc.detail:
        return exc
    legacy = f"{field}/"
    if legacy in exc.detail:
        detail = (
            exc.detail.replace(f"FIELD {legacy}", f"ELEMENT {path}")
            .replace(f"TAG {legacy}", f"ELEMENT {path}")
            .replace(legacy, path)
        )
    else:
        detail = f"{exc.detail} ({path})"
    return MessageError(exc.code, detail, field)
