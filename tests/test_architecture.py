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


def foreign_assignments(path: Path) -> list[str]:
    """``a.b.c = …`` and ``param.b = …`` in a file: attributes of another object set after it
    was made (its own attributes, ``self.b = …``, and locals it just built are its own)."""
    found = []
    for function in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = function.args
        params = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
        params -= {"self", "cls"}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign):
                targets = [
                    t
                    for target in node.targets
                    for t in (target.elts if isinstance(target, ast.Tuple | ast.List) else [target])
                ]
            elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                targets = [node.target]
            else:
                continue
            for target in targets:
                if not isinstance(target, ast.Attribute):
                    continue
                base = target.value
                if isinstance(base, ast.Attribute) or (
                    isinstance(base, ast.Name) and base.id in params
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(target)}")
    return found


def test_no_part_of_the_gateway_sets_another_parts_attributes() -> None:
    # Collaborators come in constructors (docs/architecture.md): nobody rewires a journal,
    # a delivery or a switch after it was made.
    wrong = [
        found
        for path in sorted((ROOT / "gateway").rglob("*.py"))
        for found in foreign_assignments(path)
    ]
    assert wrong == []


def test_no_part_of_the_gateway_reaches_for_the_gateway_object() -> None:
    # Sessions, the bus and metrics get the few collaborators they use, never the Gateway
    # (gateway/app.py), which only the command line starts.
    wrong = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "gateway").rglob("*.py"))
        if not path.name.startswith("cli")
        for line, module in imports(path)
        if module == "gateway.app"
    ]
    assert wrong == []
