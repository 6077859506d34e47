"""Destination resolution and sender checks, every error path."""

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.errors import ErrorCode, MessageError
from routing.lines import Line, LineRegistry
from routing.oris import Ori, OriRegistry
from routing.resolve import LINES_OF_KEPT, Destination, Resolution, Router

# What the installed services bring (responders/lesc/service.py, responders/lesc/help.py).
LESC, LESC_HELP, NCIC = "lesc", "lesc_help", "ncic"
SERVICES = {"AX": LESC, "VTINS07S0": LESC, "AXADMHELP": LESC_HELP, "NCIC": NCIC}
SERVICE_ORIS = frozenset({"VTINS07S0", "DCFBIWA00", "NL0000000"})


def make_router() -> Router:
    lines = LineRegistry(
        Line(code, "key", f"{code}ICE0000", f"{code}0000000") for code in ("TX", "CA", "VT", "DC")
    )
    oris = OriRegistry(
        [
            Ori("TX2270100", "TX", "AUSTIN PD"),
            Ori("TX0000000", "TX", "STATE CONTROL TERMINAL"),
            Ori("CA0194200", "CA", "LASD"),
            Ori("VT0040100", "VT", "BURLINGTON PD"),
            # A registered ORI whose line is not connected.
            Ori("WY0110100", "WY", "CHEYENNE PD"),
        ]
    )
    return Router(lines, oris, SERVICES, SERVICE_ORIS)


ROUTER = make_router()


def error_of(call: Callable[..., object], *args: object) -> MessageError:
    with pytest.raises(MessageError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("dest", "name"),
    [("AX", LESC), ("VTINS07S0", LESC), ("AXADMHELP", LESC_HELP), ("NCIC", NCIC)],
)
def test_services(dest: str, name: str) -> None:
    assert ROUTER.resolve(dest) == Destination("service", name, dest)


def test_line_code_and_registered_ori() -> None:
    assert ROUTER.resolve("TX") == Destination("line", "TX", "TX")
    assert ROUTER.resolve("DC") == Destination("line", "DC", "DC")
    assert ROUTER.resolve("TX2270100") == Destination("line", "TX", "TX2270100")
    assert ROUTER.resolve("TX0000000") == Destination("line", "TX", "TX0000000")


@pytest.mark.parametrize(
    "dest",
    [
        "NY",  # a line code not in the registry
        "TX9999999",  # an ORI on a connected line but not registered
        "WY0110100",  # registered, but its line is not connected
        "NL0000000",  # the switch itself
        "DCFBIWA00",  # NCIC answers as this ORI but is addressed as NCIC
        "ax",
        "",
        "TX ",
        "AX.TX",
    ],
)
def test_unknown_destination(dest: str) -> None:
    error = error_of(ROUTER.resolve, dest)
    assert error.code is ErrorCode.DESTINATION
    assert error.detail == f"DESTINATION {dest} UNKNOWN"
    assert error.field == "DEST"


def test_resolve_all_in_order() -> None:
    assert ROUTER.resolve_all(["AX", "TX", "TX2270100", "CA0194200", "NCIC"]) == Resolution(
        (
            Destination("service", LESC, "AX"),
            Destination("line", "TX", "TX"),
            Destination("line", "TX", "TX2270100"),
            Destination("line", "CA", "CA0194200"),
            Destination("service", NCIC, "NCIC"),
        ),
        (),
    )


def test_resolve_all_limit() -> None:
    dests = ["TX", "CA", "VT", "DC", "AX", "NCIC"]
    error = error_of(ROUTER.resolve_all, dests)
    assert (error.code, error.field) == (ErrorCode.DESTINATION, "DEST")
    assert error.detail == "TOO MANY DESTINATIONS: 6, AT MOST 5"
    assert len(ROUTER.resolve_all(dests[:3], limit=3).destinations) == 3
    error = error_of(ROUTER.resolve_all, dests[:4], 3)
    assert error.detail == "TOO MANY DESTINATIONS: 4, AT MOST 3"
    # Unknown destinations count towards the limit like any other.
    error = error_of(ROUTER.resolve_all, ["ZZ", "YY", "XX", "WW"], 3)
    assert error.detail == "TOO MANY DESTINATIONS: 4, AT MOST 3"


def test_resolve_all_without_destination() -> None:
    error = error_of(ROUTER.resolve_all, [])
    assert (error.code, error.detail, error.field) == (
        ErrorCode.DESTINATION, "NO DESTINATION", "DEST"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("dests", "resolved", "details"),
    [
        # The others still get the message; the faulty DEST alone is rejected.
        (["TX", "ZZ"], ["TX"], ["DESTINATION ZZ UNKNOWN"]),
        (["NY0000000", "AX", "WY0110100"], ["AX"],
         ["DESTINATION NY0000000 UNKNOWN", "DESTINATION WY0110100 UNKNOWN"]),
        (["TX", "CA", "TX"], ["TX", "CA"], ["DESTINATION TX REPEATED"]),
        (["AX", "VTINS07S0"], ["AX"], ["DESTINATION VTINS07S0 REPEATED"]),
        (["ZZ", "ZZ"], [], ["DESTINATION ZZ UNKNOWN", "DESTINATION ZZ UNKNOWN"]),
        (["ZZ"], [], ["DESTINATION ZZ UNKNOWN"]),
    ],
)  # fmt: skip
def test_resolve_all_rejects_each_faulty_destination(
    dests: list[str], resolved: list[str], details: list[str]
) -> None:
    resolution = ROUTER.resolve_all(dests)
    assert [d.address for d in resolution.destinations] == resolved
    assert [e.detail for e in resolution.rejected] == details
    assert all(
        (e.code, e.field) == (ErrorCode.DESTINATION, "DEST") for e in resolution.rejected
    )


def test_check_sender_accepts_a_registered_ori_on_the_line() -> None:
    ROUTER.check_sender("TX", "TX2270100")
    ROUTER.check_sender("VT", "VT0040100")


@pytest.mark.parametrize(
    ("line", "ori", "detail"),
    [
        ("VT", "VTINS07S0", "SENDER ORI VTINS07S0 IS RESERVED FOR THE GATEWAY"),
        ("DC", "DCFBIWA00", "SENDER ORI DCFBIWA00 IS RESERVED FOR THE GATEWAY"),
        ("TX", "NL0000000", "SENDER ORI NL0000000 IS RESERVED FOR THE GATEWAY"),
        ("TX", "CA0194200", "SENDER ORI CA0194200 NOT ON LINE TX"),
        ("TX", "CAXXXXXXX", "SENDER ORI CAXXXXXXX NOT ON LINE TX"),
        ("", "", "SENDER ORI  NOT ON LINE "),
        ("T", "TX2270100", "SENDER ORI TX2270100 NOT ON LINE T"),
        ("TX", "TX9999999", "SENDER ORI TX9999999 NOT REGISTERED"),
        ("TX", "TX", "SENDER ORI TX NOT REGISTERED"),
    ],
)
def test_check_sender_errors(line: str, ori: str, detail: str) -> None:
    error = error_of(ROUTER.check_sender, line, ori)
    assert (error.code, error.detail, error.field) == (ErrorCode.HEADER, detail, "ORI")


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("TX", "TX"),
        ("TX2270100", "TX"),
        ("TX9999999", "TX"),  # owned by its line even though not registered
        ("CAICE0000", "CA"),
        ("NY", None),
        ("NY0000000", None),
        ("WY0110100", None),
        ("VTINS07S0", None),
        ("DCFBIWA00", None),
        ("TX227010", None),
        ("tx2270100", None),
        ("", None),
    ],
)
def test_line_of(value: str, line: str | None) -> None:
    assert ROUTER.line_of(value) == line


# Text that is mostly near the real shapes, plus anything at all.
CODES = st.sampled_from(["TX", "CA", "VT", "DC", "NL", "WY", "", "T"])
NEAR_ORIS = st.sampled_from(
    ["TX2270100", "CA0194200", "WY0110100", "TX9999999", *sorted(SERVICE_ORIS), "AX", "NCIC"]
)
TEXT = st.text(max_size=12)


@given(dest=st.one_of(NEAR_ORIS, CODES, TEXT))
def test_resolve_raises_only_message_error(dest: str) -> None:
    try:
        destination = ROUTER.resolve(dest)
    except MessageError as error:
        assert error.code is ErrorCode.DESTINATION
    else:
        assert destination.address == dest


@given(line=st.one_of(CODES, TEXT), ori=st.one_of(NEAR_ORIS, TEXT))
def test_check_sender_raises_only_message_error(line: str, ori: str) -> None:
    try:
        ROUTER.check_sender(line, ori)
    except MessageError as error:
        assert error.code is ErrorCode.HEADER
    else:
        assert ori in {"TX2270100", "CA0194200", "WY0110100"} and ori[:2] == line


@given(dests=st.lists(st.one_of(NEAR_ORIS, CODES, TEXT), max_size=7))
def test_resolve_all_accounts_for_every_destination(dests: list[str]) -> None:
    try:
        resolution = ROUTER.resolve_all(dests)
    except MessageError as error:
        # Only the header as a whole fails: no destination, or too many.
        assert error.code is ErrorCode.DESTINATION
        assert not 1 <= len(dests) <= 5
        return
    assert 1 <= len(dests) <= 5
    # Each DEST is resolved or rejected, in order, and never both.
    resolved = [destination.address for destination in resolution.destinations]
    assert len(resolved) + len(resolution.rejected) == len(dests)
    remaining = iter(dests)
    assert all(address in remaining for address in resolved)
    for error in resolution.rejected:
        assert error.code is ErrorCode.DESTINATION and error.field == "DEST"
    # Whatever resolves alone resolves here unless an equal destination came first.
    keys = [(d.kind, d.name if d.kind == "service" else d.address)
            for d in resolution.destinations]  # fmt: skip
    assert len(keys) == len(set(keys))
    for dest in dests:
        try:
            alone = ROUTER.resolve(dest)
        except MessageError:
            assert dest not in resolved
            continue
        key = (alone.kind, alone.name if alone.kind == "service" else alone.address)
        assert key in keys


def test_the_switch_ori_is_reserved_without_services() -> None:
    router = Router(LineRegistry([Line("NL", "key", "NLICE0000", "NL0000001")]), OriRegistry([]))
    assert error_of(router.check_sender, "NL", "NL0000000").detail == (
        "SENDER ORI NL0000000 IS RESERVED FOR THE GATEWAY"
    )
    assert router.line_of("NL0000000") is None
    assert error_of(router.resolve, "AX").detail == "DESTINATION AX UNKNOWN"


def test_a_service_destination_may_not_be_a_line_code() -> None:
    lines = LineRegistry([Line("ZZ", "key", "ZZICE0000", "ZZ0000000")])
    with pytest.raises(ValueError, match="service destination ZZ is a line code"):
        Router(lines, OriRegistry([]), {"ZZ": "zz"})


def federal_router() -> Router:
    """A state line and a federal line owning ORIs with several states' prefixes."""
    lines = LineRegistry(
        Line(code, "key", f"{code}ICE0000", f"{code}0000000") for code in ("TX", "FB")
    )
    oris = OriRegistry(
        [
            Ori("TX2270100", "TX", "AUSTIN PD"),
            Ori("TX0000001", "TX", "COUNTY PROBATION", chri=False),
            Ori("WVFBINICS", "FB", "FBI NICS SECTION"),
            Ori("TXFBIHQ00", "FB", "FBI FIELD OFFICE HOUSTON"),
        ]
    )
    return Router(lines, oris, SERVICES, SERVICE_ORIS)


@pytest.mark.parametrize("ori", ["WVFBINICS", "TXFBIHQ00"])
def test_a_federal_line_sends_as_the_oris_the_registry_gives_it(ori: str) -> None:
    router = federal_router()
    router.check_sender("FB", ori)
    assert router.line_of(ori) == "FB"
    assert router.resolve(ori) == Destination("line", "FB", ori)
    # The state line of the prefix does not own the federal agency's ORI.
    exc = error_of(router.check_sender, "TX", ori)
    assert (exc.code, exc.detail) == (ErrorCode.HEADER, f"SENDER ORI {ori} NOT ON LINE TX")


def test_a_federal_line_owns_no_unregistered_ori() -> None:
    router = federal_router()
    exc = error_of(router.check_sender, "FB", "WVFBI0001")
    assert exc.detail == "SENDER ORI WVFBI0001 NOT ON LINE FB"
    # Unregistered ORIs keep the prefix rule (state lines, notice ORIs).
    assert error_of(router.check_sender, "TX", "TX9990100").detail == (
        "SENDER ORI TX9990100 NOT REGISTERED"
    )
    assert router.line_of("TXICE0000") == "TX"


@pytest.mark.parametrize("mke", ["IAQ", "QW", "YQ"])
def test_an_ori_not_authorized_for_criminal_history_is_refused(mke: str) -> None:
    router = federal_router()
    exc = error_of(router.check_authorized, mke, "TX0000001")
    assert (exc.code, exc.field) == (ErrorCode.TYPE_NOT_ALLOWED, "ORI")
    assert exc.detail == f"ORI TX0000001 NOT AUTHORIZED FOR CRIMINAL HISTORY ({mke})"
    router.check_authorized(mke, "TX2270100")


@pytest.mark.parametrize("mke", ["AM", "IAR", "YR"])
def test_other_traffic_needs_no_criminal_history_authorization(mke: str) -> None:
    federal_router().check_authorized(mke, "TX0000001")


@given(st.lists(st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}|[A-Z]{2}|.{0,12}", fullmatch=True),
                max_size=30))
def test_line_of_answers_the_same_asked_again(values: list[str]) -> None:
    router = make_router()
    first = [router.line_of(value) for value in values]
    # The second time from what the router kept: the same answers, also for "\0".
    assert [router.line_of(value) for value in values] == first
    assert first == [make_router().line_of(value) for value in values]


def test_line_of_keeps_a_bounded_number_of_answers() -> None:
    router = make_router()
    # Inputs may name any ORI: past the bound, answers are looked up, not kept.
    for n in range(LINES_OF_KEPT + 100):
        assert router.line_of(f"CA{n:07d}") == "CA"
    assert router.line_of("ZZ0000000") is None
    assert len(router._lines_of) == LINES_OF_KEPT


@given(st.lists(st.sampled_from(["AX", "VTINS07S0", "NCIC", "TX", "TX2270100", "CA0000000",
                                 "ZZ0000000", "TX9999999", "VT", "AXADMHELP"]), max_size=30))
def test_a_single_destination_resolves_the_same_asked_again(dests: list[str]) -> None:
    def resolved(router: Router) -> list[tuple[tuple[Destination, ...], list[str]]]:
        found = [router.resolve_all((dest,)) for dest in dests]
        return [(r.destinations, [str(error) for error in r.rejected]) for r in found]

    router = make_router()
    first = resolved(router)
    # The second time from what the router kept, for the destinations that resolved.
    assert resolved(router) == first
    assert first == resolved(make_router())


def test_single_destinations_are_kept_up_to_a_bound() -> None:
    router = make_router()
    for n in range(LINES_OF_KEPT + 100):
        assert router.resolve_all((f"CA{n:07d}",)).rejected
    assert router.resolve_all(("TX2270100",)).destinations == (
        Destination("line", "TX", "TX2270100"),
    )
    # Rejections are not kept, so unknown destinations cannot fill the store.
    assert len(router._resolved) == 1
