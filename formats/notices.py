"""Bodies of the switch's own messages: ER and SM (SPEC.md §4)."""

from formats.errors import ErrorCode

SM_FORWARD = ".02. USER OUT OF SERVICE FOR MSG TYPE, NLETS WILL FORWARD"


def format_er_body(code: ErrorCode, detail: str, original: str) -> str:
    """``.NN. TEXT``, a detail line, ``ORIGINAL MESSAGE`` and the first 100 characters."""
    raise NotImplementedError


def parse_er_body(body: str) -> tuple[ErrorCode, str, str]:
    """Split an ER body into (code, detail, original text)."""
    raise NotImplementedError


def format_sm_body(dest: str) -> str:
    """The store-and-forward notice for a destination that is not signed on."""
    raise NotImplementedError
