"""The line codec for Nlets XML, beside formats.line_protocol.TextCodec."""

from formats.message import InputMessage
from formats.nlets_xml.document import is_xml
from formats.nlets_xml.messages import (
    parse_xml_output,
    render_xml_input,
)
from formats.output import OutputMessage, parse_output


class XmlCodec:
    """Nlets XML (SPEC.md §10): the message format of a line whose registry ``format`` is
    ``xml``. Reads and writes both directions, so either end of a line can use it."""

    __slots__ = ()

    def read_output(self, text: str) -> OutputMessage:
        """The output a line received; raises MessageError when it is not one.

        An XML line gets an output in text form when its document would be longer than the
        maximum frame (docs/xml.md), so the text form is read too.
        """
        return parse_xml_output(text) if is_xml(text) else parse_output(text)

    def write_input(self, msg: InputMessage) -> str:
        """The text a line of this format sends for an input."""
        return render_xml_input(msg)


XML = XmlCodec()
