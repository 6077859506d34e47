"""Tagged forms: legacy ``TAG/value.`` fields ↔ NIEM/Nlets elements (docs/xml.md).

Reading turns the elements under a body element into the legacy body the text parser would
have, fields in legacy order, and raises the ER number the text rule gives, naming the
element. Writing is exact or nothing: a legacy body becomes tagged elements only when reading
them back gives the same body again; otherwise the caller carries the body as text.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lxml import etree

from formats._rules import parse_name
from formats.errors import ErrorCode, MessageError
from formats.message import format_fields, parse_fields
from formats.nlets_xml.document import (
    escape,
    match_name,
    match_tag,
    parse_written,
    shown_name,
    text_value,
)
from formats.nlets_xml.names import (
    FIELD_ELEMENTS,
    FULL_NAME,
    HEADING,
    INQUIRY_FIELDS,
    NAME_PARTS,
    PERSON_NAME,
    PURPOSE_DEFAULT,
    RECORD_ELEMENT,
    RECORD_KEY,
    RESPONSE_FIELDS,
    SUMMARY,
)

_DATE: Final = re.compile("([0-9]{4})-([0-9]{2})-([0-9]{2})")
_CCYYMMDD: Final = re.compile("[0-9]{8}")
_FIELD_LINE: Final = re.compile(r"([A-Z0-9]{3})/([^.\r\n]+)\.")
_REMARK: Final = "REM"
_NAME_SLOTS: Final = tuple(f"NAM:{part}" for part in NAME_PARTS)
_FULL_SLOT: Final = f"NAM:{FULL_NAME}"


def _tag(slot: str) -> str | None:
    """The legacy tag of a slot (NAM for the name's parts); None for heading and summary."""
    tag = slot.partition(":")[0]
    return tag if len(tag) == 3 else None


def _key(step: str) -> str:
    """The match name of a path step: Nlets elements keep their prefix, NIEM ones do not."""
    prefix, _, local = step.partition(":")
    return step if prefix in ("n2", "nh2") else local


@dataclass(frozen=True, slots=True)
class _Form:
    """The element paths of one tagged form: leaf path → slot, and every inner path."""

    leaves: dict[tuple[str, ...], str]
    inner: frozenset[tuple[str, ...]]
    shown: dict[str, str]
    tags: dict[str, str | None]


def _form(tags: Sequence[str], extra: dict[str, tuple[str, ...]]) -> _Form:
    paths: dict[str, tuple[str, ...]] = {}
    for tag in tags:
        if tag == "NAM":
            for slot, part in zip(_NAME_SLOTS, NAME_PARTS, strict=True):
                paths[slot] = (*PERSON_NAME, part)
            paths[_FULL_SLOT] = (*PERSON_NAME, FULL_NAME)
        else:
            paths[tag] = extra.get(tag) or FIELD_ELEMENTS[tag]
    leaves = {tuple(_key(step) for step in path): slot for slot, path in paths.items()}
    inner = frozenset(leaf[:end] for leaf in leaves for end in range(1, len(leaf)))
    shown = {slot: "/".join(path) for slot, path in paths.items()}
    return _Form(leaves, inner, shown, {slot: _tag(slot) for slot in paths})


_INQUIRY_FORMS: Final = {mke: _form(tags, {}) for mke, tags in INQUIRY_FIELDS.items()}
_RECORD_FORMS: Final = {
    mke: _form((*tags, HEADING, SUMMARY), {"MKE": RECORD_KEY, HEADING: (HEADING,),
                                          SUMMARY: (SUMMARY,)})
    for mke, tags in RESPONSE_FIELDS.items()
}


def has_inquiry_form(mke: str) -> bool:
    """Whether the key has a tagged query form (IAQ, YQ, QW)."""
    return mke in _INQUIRY_FORMS


def has_record_form(mke: str) -> bool:
    """Whether the key has a tagged response form beside its text (YR, QR)."""
    return mke in _RECORD_FORMS


# reading


def _shown_path(element: etree._Element, container: etree._Element) -> str:
    """The element's path under ``container`` as the document wrote it, for ER details."""
    steps = [shown_name(element)]
    for ancestor in element.iterancestors():
        if ancestor is container:
            break
        steps.append(shown_name(ancestor))
    return "/".join(reversed(steps))


def _values(container: etree._Element, form: _Form, mke: str) -> dict[str, str]:
    """The text of each slot of the form under ``container``; an element the form does not
    know, a repeated, empty or uncarriable one is .22."""
    # The hot loop of an XML query: names are looked up once per tag, paths are tuples.
    values: dict[str, str] = {}
    leaves = form.leaves
    inner = form.inner
    match = match_tag
    stack: list[tuple[etree._Element, tuple[str, ...]]] = [(child, ()) for child in container]
    pop = stack.pop
    push = stack.append
    while stack:
        element, parent = pop()
        name = match(element.tag)  # type: ignore[arg-type]
        # NIEM augmentation wrappers (j:PersonAugmentation …) add a level, not a meaning.
        if name.endswith("Augmentation") and ":" not in name:
            path = parent
        else:
            path = (*parent, name)
            slot = leaves.get(path)
            if slot is not None:
                values[slot] = _value(element, slot, form, values, container)
                continue
            if path not in inner:
                where = _shown_path(element, container)
                raise MessageError(
                    ErrorCode.FIELD, f"ELEMENT {where} NOT ALLOWED IN {mke}", "XML"
                )
        for child in element:
            push((child, path))
    return values


def _value(
    element: etree._Element,
    slot: str,
    form: _Form,
    values: dict[str, str],
    container: etree._Element,
) -> str:
    tag = form.tags[slot]
    if len(element):
        where = _shown_path(element, container)
        raise MessageError(ErrorCode.FIELD, f"ELEMENT {where} MUST HOLD TEXT ONLY", tag)
    where = form.shown[slot]
    if slot in values:
        raise MessageError(ErrorCode.FIELD, f"ELEMENT {where} REPEATED", tag)
    value = text_value(element, where)
    if not value:
        raise MessageError(ErrorCode.FIELD, f"ELEMENT {where} EMPTY", tag)
    if tag is not None and tag != _REMARK:
        _check_carriable(value, where, tag)
    return value


def _check_carriable(value: str, where: str, tag: str) -> None:
    """A value legacy text can carry as a field other than REM/ (.22. otherwise)."""
    if "." in value or "\n" in value or "\r" in value:
        raise MessageError(
            ErrorCode.FIELD, f"{where} MUST NOT HOLD A PERIOD OR A LINE BREAK", tag
        )
    if "REM/" in value:
        raise MessageError(ErrorCode.FIELD, f"{where} MUST NOT HOLD REM/", tag)


def _name(values: dict[str, str], form: _Form) -> str | None:
    """NAM from the full name or from its parts (``LAST, FIRST MIDDLE``)."""
    full = values.get(_FULL_SLOT)
    last, first, middle = (values.get(slot) for slot in _NAME_SLOTS)
    parts = last is not None or first is not None or middle is not None
    if full is not None:
        if parts:
            raise MessageError(
                ErrorCode.FIELD,
                f"{'/'.join(PERSON_NAME)} MUST HOLD {FULL_NAME} OR ITS PARTS, NOT BOTH",
                "NAM",
            )
        return full
    if not parts:
        return None
    for slot, value in zip(_NAME_SLOTS[:2], (last, first), strict=True):
        if value is None:
            raise MessageError(ErrorCode.MISSING, f"ELEMENT {form.shown[slot]} MISSING", "NAM")
    name = f"{last}, {first}"
    return f"{name} {middle}" if middle else name


def _pairs(values: dict[str, str], form: _Form, tags: Sequence[str]) -> list[tuple[str, str]]:
    """The legacy (tag, value) pairs in legacy order."""
    pairs = []
    for tag in tags:
        if tag == "NAM":
            value = _name(values, form)
        else:
            value = values.get(tag)
            if tag == "DOB" and value is not None:
                date = _DATE.fullmatch(value)
                if date is None:
                    raise MessageError(
                        ErrorCode.DOB, f"{form.shown[tag]} MUST BE CCYY-MM-DD", "DOB"
                    )
                value = "".join(date.groups())
        if value is not None:
            pairs.append((tag, value))
    return pairs


def read_inquiry(container: etree._Element, mke: str) -> str:
    """The legacy body of a tagged query under ``n2:NLETSInquiryData``; raises MessageError."""
    form = _INQUIRY_FORMS[mke]
    values = _values(container, form, mke)
    if mke == "IAQ" and "PUR" not in values:
        # PUR is optional in XML and C when absent (SPEC.md §10).
        values["PUR"] = PURPOSE_DEFAULT
    return format_fields(_pairs(values, form, INQUIRY_FIELDS[mke]))


def read_records(records: Sequence[etree._Element], mke: str) -> str:
    """The legacy body of a tagged response: one block per record, blank-line separated."""
    form = _RECORD_FORMS[mke]
    blocks = []
    for record in records:
        values = _values(record, form, mke)
        lines = [values[HEADING]] if HEADING in values else []
        lines += [f"{tag}/{value}." for tag, value in _pairs(values, form, RESPONSE_FIELDS[mke])]
        if SUMMARY in values:
            lines.append(values[SUMMARY])
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# writing


_Tree = dict[str, "_Tree | str"]


def _place(tree: _Tree, path: Sequence[str], value: str) -> None:
    node = tree
    for step in path[:-1]:
        child = node.setdefault(step, {})
        assert isinstance(child, dict)
        node = child
    node[path[-1]] = value


def _serialize(tree: _Tree) -> str:
    parts = []
    for step, node in tree.items():
        inner = escape(node) if isinstance(node, str) else f"\n{_serialize(node)}\n"
        parts.append(f"<{step}>{inner}</{step}>")
    return "\n".join(parts)


def _elements(pairs: Sequence[tuple[str, str]], extra: dict[str, tuple[str, ...]]) -> _Tree:
    """The element tree of legacy pairs (NAM as parts where they rebuild it exactly)."""
    tree: _Tree = {}
    for tag, value in pairs:
        if tag == "NAM":
            _place_name(tree, value)
        elif tag == "DOB" and _CCYYMMDD.fullmatch(value):
            _place(tree, FIELD_ELEMENTS["DOB"], f"{value[:4]}-{value[4:6]}-{value[6:]}")
        else:
            _place(tree, extra.get(tag) or FIELD_ELEMENTS[tag], value)
    return tree


def _place_name(tree: _Tree, value: str) -> None:
    try:
        last, first, middle = parse_name(value)
    except MessageError:
        _place(tree, (*PERSON_NAME, FULL_NAME), value)
        return
    rebuilt = f"{last}, {first} {middle}" if middle else f"{last}, {first}"
    if rebuilt != value:
        _place(tree, (*PERSON_NAME, FULL_NAME), value)
        return
    for part, text in zip(NAME_PARTS, (last, first, middle), strict=True):
        if text:
            _place(tree, (*PERSON_NAME, part), text)


def write_inquiry(mke: str, body: str) -> str | None:
    """The tagged elements of a legacy query body, or None when they would not read back as
    exactly the same body (then the body goes as ``n2:InquiryDescriptionText``)."""
    tags = INQUIRY_FIELDS[mke]
    try:
        fields = parse_fields(body)
    except MessageError:
        return None
    if not fields.keys() <= set(tags):
        return None
    xml = _serialize(_elements([(tag, fields[tag]) for tag in tags if tag in fields], {}))
    try:
        same = read_inquiry(parse_written(xml), mke) == body
    except (MessageError, etree.XMLSyntaxError):
        same = False
    return xml if same else None


def _record(block: str, mke: str) -> _Tree | None:
    """One record's elements: heading lines, the field run, summary lines."""
    lines = block.split("\n")
    matches = [_FIELD_LINE.fullmatch(line) for line in lines]
    first = next((n for n, found in enumerate(matches) if found), None)
    if first is None:
        return None
    end = first
    while end < len(lines) and matches[end] is not None:
        end += 1
    pairs = [(found.group(1), found.group(2)) for found in matches[first:end] if found]
    if not {tag for tag, _ in pairs} <= set(RESPONSE_FIELDS[mke]):
        return None
    tree: _Tree = {}
    if first:
        tree[HEADING] = "\n".join(lines[:first])
    tree.update(_elements(pairs, {"MKE": RECORD_KEY}))
    if end < len(lines):
        tree[SUMMARY] = "\n".join(lines[end:])
    return tree


def write_records(mke: str, body: str) -> str | None:
    """The tagged records of a YR or QR body to go beside its ``n2:ResponseText``, or None
    when they would not read back as exactly the same body."""
    record = RECORD_ELEMENT[mke]
    parts = []
    for block in body.split("\n\n"):
        tree = _record(block, mke)
        if tree is None:
            return None
        parts.append(_serialize({record: tree}))
    xml = "\n".join(parts)
    try:
        holder = parse_written(xml)
        same = read_records(list(holder), mke) == body
    except (MessageError, etree.XMLSyntaxError):
        same = False
    return xml if same else None


def record_elements(container: etree._Element, mke: str) -> list[etree._Element]:
    """The record elements of a tagged response under ``n2:NLETSResponseData``."""
    name = RECORD_ELEMENT[mke]
    return [child for child in container if match_name(child) == name]

