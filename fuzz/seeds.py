"""Write a seed corpus for the fuzz targets: ``python -m fuzz.seeds DIR``."""

import sys
from pathlib import Path

from formats.message import format_fields, format_input
from formats.nlets_xml import output_text_to_xml, text_to_xml

IAQ = {"PUR": "C", "ATN": "DET SMITH", "PHN": "916-555-0100", "NAM": "GARCIA, MARIA ELENA",
       "DOB": "19850314", "SEX": "F", "POB": "MX", "CUS": "N", "OFF": "0399", "ARN": "A012345678",
       "REM": "PLEASE ADVISE. THANK YOU."}
YQ = {"RTY": "WP", "RNO": "1", "PRI": "U", "OCA": "CASE42", "NIC": "I123456789",
      "NAM": "SMITH, JOHN", "DOB": "070490"}
QW = {"NAM": "SMITH, JOHN", "DOB": "19900704", "SEX": "M"}

SEEDS = [
    format_input("IAQ", "CA0000000", ["AX"], format_fields(IAQ), "CASE-1"),
    format_input("YQ", "TX0000000", ["VTINS07S0"], format_fields(YQ)),
    format_input("QW", "NY0000000", ["NCIC"], format_fields(QW), "Q1"),
    format_input("AM", "CA0000000", ["TX", "NY0000000"], "FREE TEXT. WITH PERIODS"),
    "SIGNON.CA.DEV-CA",
    "ACK.12345",
    "HB",
    "SIGNON OK CA 17",
    "SIGNON REJECTED INVALID KEY",
    "AM.VTINS07S0\n14:02 11/23/2026 00001\n14:02 11/23/2026 00002 CA0000000 *CASE-1\nTXT\n"
    "LESC ACKNOWLEDGES RECEIPT OF IAQ. LESC CONTROL NUMBER 0000000001",
    ".22. INVALID MESSAGE FORMAT\nDOB/ MUST BE MMDDYY OR CCYYMMDD\nORIGINAL MESSAGE\nIAQ.CA",
]

# The same messages in Nlets XML, and one as a state switch writes it (indented, CDATA, a
# NIEM 3.0 name, an augmentation wrapper), for the XML target.
XML_SEEDS = [
    *(text_to_xml(seed) for seed in SEEDS[:4]),
    output_text_to_xml(SEEDS[9]),
    "<?xml version='1.0'?>\n<n2:NLETS xmlns:n2='http://www.nlets.org/niem/1.0' "
    "xmlns:nh2='http://www.nlets.org/niem/nlets-hdr/1.0' "
    "xmlns:nc='http://release.niem.gov/niem/niem-core/3.0/' n2:version='4.00'>\n"
    "  <n2:NLETSMessageHeader>\n    <nh2:MessageKeyCodeText>QW</nh2:MessageKeyCodeText>\n"
    "    <nh2:OriginatingORIID>NY0000000</nh2:OriginatingORIID>\n"
    "    <nh2:DestinationORIID>NCIC</nh2:DestinationORIID>\n"
    "    <nh2:DocumentControlFieldText><![CDATA[Q1]]></nh2:DocumentControlFieldText>\n"
    "  </n2:NLETSMessageHeader>\n  <n2:NLETSInquiryData><n2:Person>\n"
    "    <nc:PersonName><nc:PersonFullName>SMITH, JOHN</nc:PersonFullName></nc:PersonName>\n"
    "    <nc:PersonBirthDate><nc:Date>1990-07-04</nc:Date></nc:PersonBirthDate>\n"
    "    <j:PersonAugmentation xmlns:j='http://release.niem.gov/niem/domains/jxdm/5.0/'/>\n"
    "  </n2:Person></n2:NLETSInquiryData>\n</n2:NLETS>",
]


def main() -> None:
    """Write each seed as a file, and a framed stream of them for the decoder."""
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(SEEDS):
        (target / f"seed-{number:02d}").write_bytes(seed.encode())
    for number, seed in enumerate(XML_SEEDS):
        (target / f"seed-xml-{number:02d}").write_bytes(seed.encode())
    # The decoder target reads a max-length byte and a read-size byte first.
    stream = b"".join(b"\x02" + seed.encode() + b"\x03" for seed in SEEDS)
    (target / "seed-stream").write_bytes(b"\x40\x07" + stream + b"junk\x02\x01\x03")


if __name__ == "__main__":
    main()
