"""Nlets XML (NIEM) messages, sans-IO (SPEC.md §10, docs/xml.md).

XML text in, the legacy parsers' values out (:class:`~formats.message.InputMessage`,
:class:`~formats.output.OutputMessage`), and back; hardened parsing (no DTD, no entity, no
network); the element an ER names; the line codec.
"""

from formats.nlets_xml.codec import XML, XmlCodec
from formats.nlets_xml.document import MAX_ATTRIBUTE, MAX_DEPTH, is_xml
from formats.nlets_xml.messages import (
    XmlInput,
    convert,
    is_xml_output,
    output_text_to_xml,
    output_xml_to_text,
    parse_xml_input,
    parse_xml_output,
    read_input,
    render_xml_input,
    render_xml_output,
    text_to_xml,
    tidy_query,
    xml_to_text,
)
from formats.nlets_xml.names import element_path, xml_error

__all__ = [
    "MAX_ATTRIBUTE",
    "MAX_DEPTH",
    "XML",
    "XmlCodec",
    "XmlInput",
    "convert",
    "element_path",
    "is_xml",
    "is_xml_output",
    "output_text_to_xml",
    "output_xml_to_text",
    "parse_xml_input",
    "parse_xml_output",
    "read_input",
    "render_xml_input",
    "render_xml_output",
    "text_to_xml",
    "tidy_query",
    "xml_error",
    "xml_to_text",
]
