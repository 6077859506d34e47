"""Nlets error numbers (SPEC.md §4) and the codec's one exception type."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """ER numbers used by the switch, as they appear in the ER body."""

    FORMAT = "0"
    HEADER = ".01."
    TYPE_NOT_ALLOWED = ".02."
    TXT_NOT_FOUND = ".03."
    DOB = ".05."
    MISSING = ".14."
    ATN = ".16."
    DESTINATION = ".19."
    FIELD = ".22."


ERROR_TEXT: dict[ErrorCode, str] = {
    ErrorCode.FORMAT: "MESSAGE FORMAT/STRUCTURE ERROR",
    ErrorCode.HEADER: "INVALID HEADER INFORMATION",
    ErrorCode.TYPE_NOT_ALLOWED: "MESSAGE TYPE NOT ALLOWED TO DESTINATION",
    ErrorCode.TXT_NOT_FOUND: "TXT NOT FOUND",
    ErrorCode.DOB: "DOB INVALID OR MISSING",
    ErrorCode.MISSING: "FIELDS MISSING",
    ErrorCode.ATN: "ATN FIELD INVALID",
    ErrorCode.DESTINATION: "INVALID DESTINATION ORIS",
    ErrorCode.FIELD: "INVALID MESSAGE FORMAT",
}


class MessageError(ValueError):
    """A message the switch must answer with an ER; ``detail`` names the field and the rule."""

    def __init__(self, code: ErrorCode, detail: str, field: str | None = None) -> None:
        super().__init__(f"{code} {detail}")
        self.code = code
        self.detail = detail
        self.field = field
