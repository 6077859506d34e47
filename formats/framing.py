"""STX/ETX framing (SPEC.md §2) as a sans-IO decoder in the manner of h11."""

from dataclasses import dataclass

STX = 0x02
ETX = 0x03
DEFAULT_MAX_TEXT = 16_384


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete frame whose text is 7-bit printable ASCII plus CR and LF."""

    text: str


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that must be answered with ER 0; ``raw`` is at most its first 100 bytes."""

    reason: str  # "oversize" or "charset"
    raw: bytes


class FrameDecoder:
    """Turns a byte stream into frames; never buffers more than one maximum frame."""

    def __init__(self, max_text: int = DEFAULT_MAX_TEXT) -> None:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """Consume bytes and return the frames they complete, in order."""
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        raise NotImplementedError


def encode_frame(text: str) -> bytes:
    """Wrap a text in STX/ETX as ASCII bytes."""
    raise NotImplementedError
