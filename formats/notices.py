"""Bodies of the switch's own messages: ER and SM (SPEC.md §4)."""

from formats.errors import ERROR_TEXT, ErrorCode, MessageError

SM_FORWARD = ".02. USER OUT OF SERVICE FOR MSG TYPE, NLETS WILL FORWARD"
SM_UNABLE = ".04. DESTINATION UNABLE TO PROCESS MESSAGE - NLETS WILL NOT FORWARD"
ORIGINAL_MESSAGE = "ORIGINAL MESSAGE"
ORIGINAL_LIMIT = 100


def format_er_body(code: ErrorCode, detail: str, original: str) -> str:
    """``.NN. TEXT``, a detail line, ``ORIGINAL MESSAGE`` and the first 100 characters."""
    # The detail must stay one line or the body could not be split again.
    line = detail.replace("\r", " ").replace("\n", " ")
    return (
        f"{code} {ERROR_TEXT[code]}\n{line}\n{ORIGINAL_MESSAGE}\n{original[:ORIGINAL_LIMIT]}"
    )


def parse_er_body(body: str) -> tuple[ErrorCode, str, str]:
    """Split an ER body into (code, detail, original text)."""
    parts = body.split("\n", 3)
    if len(parts) < 4 or parts[2] != ORIGINAL_MESSAGE:
        raise MessageError(ErrorCode.FORMAT, "ER BODY MUST HOLD ERROR, DETAIL, ORIGINAL MESSAGE")
    number, _, text = parts[0].partition(" ")
    try:
        code = ErrorCode(number)
    except ValueError:
        raise MessageError(ErrorCode.FORMAT, "ER BODY HOLDS NO KNOWN ERROR NUMBER") from None
    if text != ERROR_TEXT[code]:
        raise MessageError(ErrorCode.FORMAT, "ER TEXT DOES NOT MATCH ITS NUMBER")
    return code, parts[1], parts[3]


def format_sm_body(dest: str) -> str:
    """The store-and-forward notice for a destination that is not signed on."""
    return f"{SM_FORWARD}\nDESTINATION {dest}"


def format_sm_unable_body(dest: str | None) -> str:
    """The notice for a destination that failed to process the message (SPEC.md §11).

    ``dest`` is None when the input could not be read far enough to name one.
    """
    return SM_UNABLE if dest is None else f"{SM_UNABLE}\nDESTINATION {dest}"
