"""The kit's import graph: layered, acyclic, and naming no project.

Each module sits in a layer and imports only from its own layer or those below it; the layers
are the kit's architecture, written down where a test keeps them true.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

KIT = Path(__file__).resolve().parents[3] / "src" / "lockstep"

# Lowest first. A module may import from its own layer and the layers before it.
LAYERS = [
    ["lockstep", "errors", "paths", "files", "yamltext"],
    ["shell", "config"],
    [
        "git",
        "engines",
        "workspace",
        "images.recorded",
        "lockfile",
        "runtime",
        "runtime.*",
    ],
    ["pages", "pages.*"],
    [
        "lineage",
        "sources",
        "causes",
        "containers",
        "slurm",
        "executor",
        "images",
        "images.debs",
        "images.manifest",
        "images.prefetch",
        "toolchain",
        "images.oci",
        "images.sbom",
    ],
    ["images.tars", "images.packages"],
    ["images.rootfs", "images.layout", "images.store", "images.assembly"],
    ["images.base", "images.layers", "images.environment"],
    ["images.builder", "images.registry", "images.rebuild", "remote", "attest"],
    ["pipeline", "replay", "images.reproducible"],
    ["devcontainer", "experiments", "rerun", "rerun_page", "sweep", "refresh", "refresh.*"],
    ["explain"],
    ["tasks", "scaffold", "scaffold.*"],
]


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


def layer(name: str) -> int:
    for number, patterns in enumerate(LAYERS):
        if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            return number
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


GRAPH = {module_name(path): imports(path) - {module_name(path)} for path in KIT.rglob("*.py")}


def test_every_module_imports_only_its_own_layer_or_below():
    upward = [
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, targets in GRAPH.items()
        for target in targets
        if layer(target) > layer(name)
    ]
    assert not upward, "\n".join(upward)


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
    # The kit is vendored into every project: a project's package or data has no place in it.
    project = Path(__file__).resolve().parents[3] / "src"
    packages = [p.name for p in project.iterdir() if p.name.isidentifier() and p.name != "lockstep"]
    for path in KIT.rglob("*.py"):
        text = path.read_text()
        for package in packages:
            assert package not in text, f"{path.relative_to(KIT)} names {package}"
