"""The rooms and what each may import (docs/architecture.md), checked on the source."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# Each package and the packages of ours it may import from: gateway/ may import from
# responders/ only its plugin interface; the simulator and the fuzz targets sit on top (the
# simulator's commands reach the command line through the iaqgw.commands entry points), so no
# two packages import each other.
ALLOWED = {
    "formats": {"formats"},
    "routing": {"formats", "routing"},
    "responders": {"formats", "routing", "responders"},
    "gateway": {"formats", "routing", "gateway", "responders.base", "responders.registry"},
    "simulator": {"formats", "routing", "responders", "gateway", "simulator"},
    "fuzz": {"formats", "fuzz"},
}
OURS = {"formats", "routing", "responders", "gateway", "simulator", "fuzz"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of one of our packages in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def allowed(package: str, module: str) -> bool:
    """Whether ``module`` is ``package``'s to import."""
    return any(module == room or module.startswith(f"{room}.") for room in ALLOWED[package])


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_room_imports_only_from_the_rooms_below(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in imports(path)
        if not allowed(package, module)
    ]
    assert wrong == []
