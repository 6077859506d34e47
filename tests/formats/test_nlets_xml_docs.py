"""The examples of docs/xml.md are what the code reads and writes, both ways."""

import re
from pathlib import Path

import pytest

from formats.nlets_xml import convert

DOC = Path(__file__).parent.parent.parent / "docs" / "xml.md"
PAIRS = re.findall(r"```text\n(.*?)\n```\n\n```xml\n(.*?)\n```", DOC.read_text(), re.DOTALL)


def test_every_key_has_an_example() -> None:
    keys = {text.split(".", 1)[0] for text, _ in PAIRS}
    assert keys == {"IAQ", "YQ", "QW", "AM", "IAR", "YR", "QR", "ER", "SM"}


@pytest.mark.parametrize(("text", "xml"), PAIRS)
def test_the_examples_convert_both_ways(text: str, xml: str) -> None:
    assert convert(text) == xml
    assert convert(xml) == text
