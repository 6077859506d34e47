"""The rows of the line and ORI registries (``--lines``, ``--oris``), checked by pydantic models.

Read by formats/datafile.py as people export them (docs/data-files.md). An ORI a service of
the gateway sends as (``reserved`` in the validation context) is no agency's and no line's.
"""

from typing import Annotated, ClassVar

from pydantic import BeforeValidator, ValidationInfo

from formats.datafile import CsvRow, refuse, upper, words
from routing.lines import (
    HASH_SCHEME,
    LINE_FORMATS,
    LineFormat,
    default_control_ori,
    default_ice_office_ori,
    default_ident_bureau_ori,
    is_well_formed_key,
)
from routing.oris import LINE_CODE_RE, ORI_RE


def _line_code(value: str | None) -> str:
    text = upper(value)
    if not LINE_CODE_RE.fullmatch(text):
        raise refuse(
            f"{text!r} is not a line code", "write the two-letter code of the line, e.g. CA"
        )
    return text


def _reserved(info: ValidationInfo) -> frozenset[str]:
    """The ORIs only the gateway sends as, from the validation context."""
    reserved = (info.context or {}).get("reserved")
    return reserved if isinstance(reserved, frozenset) else frozenset()


def _ori(text: str, what: str, when_empty: str, info: ValidationInfo) -> str:
    if not ORI_RE.fullmatch(text):
        raise refuse(
            f"{text!r} is not an ORI",
            f"write the {what} as 9 characters, 2 letters then 7 letters or digits{when_empty}",
        )
    if text in _reserved(info):
        raise refuse(f"{text} is an ORI of the gateway's own services", f"give the {what}")
    return text


def _key(value: str | None) -> str:
    text = (value or "").strip()
    # The key itself is never repeated in a message: it may be the plain secret.
    if not text:
        raise refuse("empty", "paste the hash `iaqgw keys hash` prints for the line's key")
    if not is_well_formed_key(text):
        raise refuse(
            f"not a well-formed {HASH_SCHEME} hash",
            "paste the whole hash `iaqgw keys hash` prints",
        )
    return text


def _notice_ori(value: str | None, info: ValidationInfo) -> str:
    code: str | None = info.data.get("line")
    text = upper(value)
    if info.field_name == "ice_office_ori":
        what, default = "ICE field office's ORI", default_ice_office_ori
    else:
        what, default = "state control terminal's ORI", default_control_ori
    if code is None:  # a bad line code is reported on its own
        return text
    when_empty = f", or leave it empty for {default(code)}"
    ori = _ori(text or default(code), what, when_empty, info)
    if info.field_name == "control_ori" and ori[:2] != code:
        raise refuse(f"{ori} is not on line {code}", f"give an ORI starting with {code}")
    return ori


def _ident_bureau_ori(value: str | None, info: ValidationInfo) -> str | None:
    """The state identification bureau's ORI, on the row's own line; None when empty."""
    code: str | None = info.data.get("line")
    text = upper(value)
    if code is None or not text:  # a bad line code is reported on its own
        return None
    what = "state identification bureau's ORI"
    ori = _ori(text, what, f", or leave it empty for {default_ident_bureau_ori(code)}", info)
    if ori[:2] != code:
        raise refuse(f"{ori} is not on line {code}", f"give an ORI starting with {code}")
    return ori


def _format(value: str | None) -> LineFormat:
    text = (value or "").strip().lower() or "text"
    for known in LINE_FORMATS:
        if text == known:
            return known
    raise refuse(
        f"{text!r} is not a line format",
        "write text or xml (the form of the line's outputs), or leave it empty for text",
    )


class LineRow(CsvRow):
    """One connected state switch of the line registry (``--lines``)."""

    empty_fix: ClassVar[str] = "add a row for each state switch that signs on"

    line: Annotated[str, BeforeValidator(_line_code)]
    key: Annotated[str, BeforeValidator(_key)]
    # The ICE field office may sit on another line (one office covers several states); the
    # state control ORI is the line's own.
    ice_office_ori: Annotated[str, BeforeValidator(_notice_ori)] = ""
    control_ori: Annotated[str, BeforeValidator(_notice_ori)] = ""
    format: Annotated[LineFormat, BeforeValidator(_format)] = "text"
    # Gets a copy of the answers to biometric IAQs for the line's agencies (docs/lesc.md).
    ident_bureau_ori: Annotated[str | None, BeforeValidator(_ident_bureau_ori)] = None


def _agency_ori(value: str | None, info: ValidationInfo) -> str:
    text = upper(value)
    if not text:
        raise refuse("empty", "give the agency's 9-character ORI")
    return _ori(text, "agency's ORI", "", info)


def _ori_line(value: str | None, info: ValidationInfo) -> str:
    ori: str | None = info.data.get("ori")
    text = upper(value)
    if ori is None:
        return text
    # A federal agency sits on its federal line whatever its ORI's state (SPEC.md §11).
    return _line_code(text) if text else ori[:2]


def _yes_no(value: str | bool | None) -> bool:
    if isinstance(value, bool):  # the default, validated too
        return value
    text = upper(value)
    if text not in ("", "Y", "N"):
        raise refuse(f"{text!r} is not Y or N", "write Y or N, or leave it empty for Y")
    return text != "N"


def _agency(value: str | None) -> str:
    text = words(value)
    if not text:
        raise refuse("empty", "give the agency's name")
    return text


class OriRow(CsvRow):
    """One originating agency of the ORI registry (``--oris``)."""

    empty_fix: ClassVar[str] = (
        "add a row for each agency, or leave out --oris for the synthetic registry"
    )

    ori: Annotated[str, BeforeValidator(_agency_ori)]
    line: Annotated[str, BeforeValidator(_ori_line)] = ""
    agency: Annotated[str, BeforeValidator(_agency)]
    # Authorized for criminal history (IAQ, QW, YQ), as an Nlets ORION entry says.
    chri: Annotated[bool, BeforeValidator(_yes_no)] = True

