"""The IAR's text (responders/lesc/iaq_steps.iar_body), written line by line, against the
form it is defined by: format_fields of the fields in SPEC.md §4's order, then its lines."""

from collections.abc import Sequence
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from formats.dates import format_ccyymmdd
from formats.message import format_fields, parse_fields
from responders.lesc.iaq_steps import (
    STATUS_SUMMARY,
    Inquiry,
    iar_body,
    identity_differences,
)
from responders.lesc.index import Record
from responders.lesc.indices import IndexFinding
from responders.lesc.indices.finding import format_listing

words = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
dates = st.dates(date(1900, 1, 1), date(2025, 12, 31))
records = st.builds(
    Record,
    arn=st.from_regex(r"[0-9]{9}", fullmatch=True),
    last=words, first=words, middle=st.just("") | words, dob=dates,
    sex=st.sampled_from("MFU"), pob=st.sampled_from(["MX", "US", "IN"]),
    status=st.sampled_from(["USC", "LPR", "NIV", "OOS", "REM"]),
    coa=st.sampled_from(["", "F1", "IR1"]), status_date=st.none() | dates,
    ivf=st.none() | st.just("ABSCONDER"), nic=st.just("I123456789"),
)  # fmt: skip
findings = st.lists(
    st.builds(IndexFinding, index=st.sampled_from(["CIS", "NCIC", "III", "SEVIS"]),
              hit=st.booleans(), summary=st.just("") | words.map(lambda w: f"{w}: FOUND.")),
    max_size=4,
)


def reference(nam: str, dob: str, sex: str, lcn: str, status: str, record: Record | None,
              inquiry: Inquiry, dtn: bool, notes: Sequence[str], enhanced: bool,
              indices: Sequence[IndexFinding]) -> str:
    """The IAR as its definition reads: the fields as pairs, format_fields, then the lines."""
    fields = [("NAM", nam), ("DOB", dob), ("SEX", sex), ("LCN", lcn)]
    if enhanced:
        fields.append(("ENH", "Y"))
    fields.append(("STS", status))
    differing: list[tuple[str, str]] = []
    differences: list[str] = []
    if record is not None:
        fields += [("ARN", f"A{record.arn}"), ("POB", record.pob)]
        if record.coa:
            fields.append(("COA", record.coa))
        if record.status_date is not None:
            fields.append(("SDT", format_ccyymmdd(record.status_date)))
        if record.ivf:
            fields += [("IVF", record.ivf), ("NIC", str(record.nic))]
        differing, differences = identity_differences(inquiry, record)
    if dtn:
        fields.append(("DTN", "Y"))
    fields += differing
    if indices:
        fields.append(("IDX", format_listing(indices)))
    lines = [finding.summary for finding in indices if finding.summary]
    return "\n".join([format_fields(fields), STATUS_SUMMARY[status], *differences, *lines,
                      *notes])


@given(
    st.none() | records, words, words, dates, st.sampled_from(sorted(STATUS_SUMMARY)),
    st.booleans(), st.booleans(), st.lists(words, max_size=2), findings,
)
def test_the_iar_is_its_fields_then_its_lines(
    record: Record | None, last: str, first: str, dob: date, status: str, dtn: bool,
    enhanced: bool, notes: list[str], indices: list[IndexFinding],
) -> None:
    inquiry = Inquiry(last, first, "", dob)
    nam, birth = f"{last}, {first}", format_ccyymmdd(dob)
    text = iar_body(nam=nam, dob=birth, sex="M", lcn="0000000001", status=status,
                    record=record, inquiry=inquiry, dtn=dtn, notes=notes, enhanced=enhanced,
                    indices=indices)
    assert text == reference(nam, birth, "M", "0000000001", status, record, inquiry, dtn, notes,
                             enhanced, indices)
    # The field part reads back as fields, NAM/ first.
    fields = parse_fields(text.split(STATUS_SUMMARY[status])[0])
    assert list(fields)[:3] == ["NAM", "DOB", "SEX"]
    assert fields["STS"] == status
