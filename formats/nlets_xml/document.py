"""Reading an Nlets XML document without trusting it (SPEC.md §10, docs/xml.md).

A DOCTYPE (and with it every entity declaration and external DTD) is refused by looking at
the prolog before any parser sees the text; the parser itself resolves no entity, loads no
DTD and touches no network, so nothing a document names is ever fetched. The caller bounds
the text by the maximum frame length; depth and attribute size are bounded here.
"""

import functools
import re
from typing import Final

from lxml import etree

from formats.errors import ErrorCode, MessageError

N2: Final = "http://www.nlets.org/niem/1.0"
NH2: Final = "http://www.nlets.org/niem/nlets-hdr/1.0"
NC: Final = "http://niem.gov/niem/niem-core/2.0"
J4: Final = "http://niem.gov/niem/domains/jxdm/4.0"
IM: Final = "http://niem.gov/niem/domains/immigration/2.0"
XINCLUDE: Final = "http://www.w3.org/2001/XInclude"
# The prefixes outputs use; inputs may use any prefix for these namespaces.
PREFIXES: Final = {"n2": N2, "nh2": NH2, "nc": NC, "j4": J4, "im": IM}
_NLETS: Final = {N2: "n2", NH2: "nh2"}
_DECLARATIONS: Final = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in PREFIXES.items())

ROOT: Final = f"{{{N2}}}NLETS"
# An Nlets message is a few levels deep; NIEM augmentation wrappers add one or two.
MAX_DEPTH: Final = 32
MAX_ATTRIBUTE: Final = 1024

_WHITESPACE: Final = " \t\r\n"
_OUTSIDE_CHARSET: Final = re.compile("[^\x20-\x7e\r\n]")
# The hardened parser: no entity resolved, no DTD loaded, no network, no huge trees.
PARSER: Final = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    attribute_defaults=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


def is_xml(text: str) -> bool:
    """Whether a frame's text is an XML document: its first non-blank character is ``<``."""
    return text.lstrip(_WHITESPACE).startswith("<")


def _check_prolog(text: str) -> None:
    """Refuse a DOCTYPE before parsing: it is the only place entities and DTDs are declared.

    Walks the XML declaration, comments and processing instructions that may come before the
    root element; the first other thing must be the root.
    """
    pos = 0
    size = len(text)
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
        elif text.startswith("<!", pos):
            # <!DOCTYPE, or anything else a prolog cannot hold: either way no root element yet.
            if text.startswith("<!DOCTYPE", pos):
                raise MessageError(
                    ErrorCode.FORMAT, "XML DOCUMENT TYPE DECLARATION NOT ALLOWED", "XML"
                )
            raise _malformed("MARKUP BEFORE THE ROOT ELEMENT")
        else:
            return
        if end < 0:
            raise _malformed("UNCLOSED MARKUP BEFORE THE ROOT ELEMENT")
        pos = end + 2


def _malformed(reason: str) -> MessageError:
    return MessageError(ErrorCode.TXT_NOT_FOUND, f"IMPROPERLY FORMED XML: {reason}", "XML")


def parse_document(text: str) -> etree._Element:
    """The root ``n2:NLETS`` element of a document; raises MessageError.

    ER 0 for a DOCTYPE or entity declaration, an XInclude, a limit exceeded (depth,
    attribute size) or a character outside the character set; ER .03. for a document that
    is not well formed or whose root is not ``n2:NLETS``.
    """
    _check_prolog(text)
    try:
        root = etree.fromstring(text.encode("utf-8", "surrogatepass"), PARSER)
    except etree.XMLSyntaxError as exc:
        if exc.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
            raise MessageError(
                ErrorCode.FORMAT, "XML BEYOND THE PARSER'S LIMITS", "XML"
            ) from None
        raise _malformed(_reason(exc)) from None
    except (ValueError, LookupError):
        # An encoding lxml cannot take, or bytes that are not text in any encoding.
        raise _malformed("UNREADABLE ENCODING") from None
    tree = root.getroottree()
    if tree.docinfo.doctype:
        # Unreachable after _check_prolog; kept so that no DTD ever passes on a parser change.
        raise MessageError(ErrorCode.FORMAT, "XML DOCUMENT TYPE DECLARATION NOT ALLOWED", "XML")
    if root.tag != ROOT:
        raise _malformed("ROOT ELEMENT MUST BE n2:NLETS")
    _check_limits(root)
    return root


def _reason(exc: etree.XMLSyntaxError) -> str:
    """libxml2's message in capitals, without the position lxml adds, on one line."""
    message = (exc.msg or "NOT WELL FORMED").split(", line ")[0]
    return " ".join(message.upper().split())[:80]


# Each a single pass in C over the tree: an element below MAX_DEPTH, a long attribute value;
# and the tag filter of an XInclude element.
_TOO_DEEP: Final = etree.XPath("boolean(/*" + "/*" * MAX_DEPTH + ")")
_LONG_ATTRIBUTE: Final = etree.XPath(f"boolean(//@*[string-length() > {MAX_ATTRIBUTE}])")
_INCLUDE: Final = f"{{{XINCLUDE}}}*"


def _check_limits(root: etree._Element) -> None:
    """Depth, attribute size and the external references of XInclude (ER 0)."""
    if _TOO_DEEP(root):
        raise MessageError(
            ErrorCode.FORMAT, f"XML NESTED DEEPER THAN {MAX_DEPTH} ELEMENTS", "XML"
        )
    if _LONG_ATTRIBUTE(root):
        raise MessageError(ErrorCode.FORMAT, f"XML ATTRIBUTE LONGER THAN {MAX_ATTRIBUTE}", "XML")
    if next(root.iter(_INCLUDE), None) is not None:
        raise MessageError(ErrorCode.FORMAT, "XML EXTERNAL REFERENCE NOT ALLOWED", "XML")
    if next(root.iter(etree.Entity), None) is not None:
        # An entity reference left unresolved: only a DTD could declare one.
        raise MessageError(ErrorCode.FORMAT, "XML ENTITY REFERENCE NOT ALLOWED", "XML")


def parse_written(xml: str) -> etree._Element:
    """Elements written by this package, parsed inside a holder that declares the prefixes
    (to read them back); raises etree.XMLSyntaxError."""
    holder = f"<holder {_DECLARATIONS}>{xml}</holder>"
    return etree.fromstring(holder.encode("ascii", "xmlcharrefreplace"), PARSER)


def local_name(element: etree._Element) -> str:
    """The element's name without its namespace."""
    return str(element.tag).rpartition("}")[2]


@functools.lru_cache(maxsize=1024)
def match_tag(tag: str) -> str:
    """:func:`match_name` of an element's tag (``{namespace}local``)."""
    namespace, _, local = tag[1:].rpartition("}")
    prefix = _NLETS.get(namespace)
    return local if prefix is None else f"{prefix}:{local}"


def match_name(element: etree._Element) -> str:
    """The name an element is matched on: ``n2:X``/``nh2:X`` in the Nlets namespaces, else
    the local name (NIEM elements of any release)."""
    return match_tag(str(element.tag))


def shown_name(element: etree._Element) -> str:
    """The element's name as the document wrote it, for ER details."""
    prefix = element.prefix
    local = local_name(element)
    return f"{prefix}:{local}" if prefix else local


def text_value(element: etree._Element, where: str, strip: bool = True) -> str:
    """An element's text (CDATA included), checked against the character set (ER 0).

    ``where`` names the element in the ER detail. An element with elements inside is .22.:
    what they hold would be lost.
    """
    if len(element):
        raise MessageError(ErrorCode.FIELD, f"ELEMENT {where} MUST HOLD TEXT ONLY", "XML")
    value = element.text or ""
    if strip:
        value = value.strip(_WHITESPACE)
    if _OUTSIDE_CHARSET.search(value) is not None:
        raise MessageError(
            ErrorCode.FORMAT, f"{where} HOLDS A CHARACTER OUTSIDE THE CHARACTER SET", "XML"
        )
    return value


def escape(value: str) -> str:
    """Text for element content: ``& < >`` escaped, CR as ``&#13;`` so that it survives."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "&#13;")
    )
