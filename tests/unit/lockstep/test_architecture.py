"""The kit's architecture: ground modules, wings that only meet at their faces, entrances on top.

Each wing is a package whose `__init__` names its face (`__all__`): the modules other wings may
import. A module imports only from its own rank or those below it, never another wing's
internals, and the import graph has no cycle. (Not to be confused with an image's layers:
tests/unit/lockstep/images/test_layers.py.)
"""

from __future__ import annotations

import ast
from pathlib import Path

KIT = Path(__file__).resolve().parents[3] / "src" / "lockstep"

# Lowest first. A module may import from its own rank and the ranks before it.
ARCHITECTURE = [
    # The ground: small modules every wing may use.
    ["lockstep", "errors", "paths", "files", "links", "yamltext"],
    ["shell", "config"],
    ["git", "engines", "workspace", "lockfile", "tools", "dvcconfig", "dvccache"],
    # The wings.
    ["runtime", "pages"],
    ["records"],
    ["images"],
    ["share"],
    ["run"],
    ["history"],
    ["refresh"],
    # The entrances: the ./inv launcher, the tasks, the `lockstep` command.
    ["toolchain", "tasks", "scaffold"],
]
WINGS = [name for rank in ARCHITECTURE for name in rank if (KIT / name).is_dir()]


def module_name(path: Path) -> str:
    parts = path.relative_to(KIT.parent).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return name.removeprefix("lockstep.") if name != "lockstep" else name


def imports(path: Path) -> set[str]:
    """The kit modules a file imports (`from lockstep.x import y` names x.y when that is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lockstep"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}".replace(".", "/")
                is_module = (KIT.parent / f"{target}.py").exists() or (KIT.parent / target).is_dir()
                full = f"{node.module}.{alias.name}" if is_module else node.module
                found.add(full.removeprefix("lockstep.") if full != "lockstep" else full)
    return found


def unit(name: str) -> str:
    """The ground module, wing or entrance a module belongs to."""
    return name.split(".")[0]


def rank(name: str) -> int:
    for number, names in enumerate(ARCHITECTURE):
        if unit(name) in names:
            return number
    raise AssertionError(f"{name} is in no rank: add {unit(name)} to ARCHITECTURE")


def face(wing: str) -> list[str]:
    init = KIT / wing / "__init__.py"
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{wing}/__init__.py names no face: give it an __all__ of modules")


GRAPH = {module_name(path): imports(path) - {module_name(path)} for path in KIT.rglob("*.py")}


def test_every_module_imports_only_its_own_rank_or_below():
    upward = [
        f"{name} (rank {rank(name)}) imports {target} (rank {rank(target)})"
        for name, targets in GRAPH.items()
        for target in targets
        if rank(target) > rank(name)
    ]
    assert not upward, "\n".join(upward)


def test_each_wing_names_a_face_of_modules_it_has():
    assert {"records", "images", "run", "history"} <= set(WINGS)
    for wing in WINGS:
        missing = [name for name in face(wing) if f"{wing}.{name}" not in GRAPH]
        assert not missing, f"{wing}'s face names {missing}, which it does not have"
        assert len(face(wing)) < len([m for m in GRAPH if unit(m) == wing]), f"{wing} is all face"


def test_no_module_reaches_into_another_wings_internals():
    reached = [
        f"{name} imports {target}, internal to {unit(target)} (its face: {face(unit(target))})"
        for name, targets in GRAPH.items()
        for target in targets
        if unit(target) in WINGS
        and unit(target) != unit(name)
        and target != unit(target)
        and target.split(".")[1] not in face(unit(target))
    ]
    assert not reached, "\n".join(reached)


def test_the_import_graph_has_no_cycle():
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH.get(name, ())):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail, name, target]))
            if target not in state:
                visit(target, [*trail, name])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])


def test_the_kit_names_no_project():
    # The kit is pinned by every project: a project's package or data has no place in it.
    project = Path(__file__).resolve().parents[3] / "src"
    packages = [p.name for p in project.iterdir() if p.name.isidentifier() and p.name != "lockstep"]
    for path in KIT.rglob("*.py"):
        text = path.read_text()
        for package in packages:
            assert package not in text, f"{path.relative_to(KIT)} names {package}"
