"""A project's declared dependencies, merged into the kit's pyproject.toml by `lockstep adopt`.

An adopted project's stages import what its requirements.txt, setup.cfg or pyproject.toml
declares; without those in the lock, the image lacks them and the first run fails minutes in
with ModuleNotFoundError. Adopt reads them here and adds them to the kit's [project]
dependencies, where Poetry locks them. A package the kit pins already keeps the kit's pin, as
long as the project's requirement accepts it: the kit's own code is tested against that version.

requirements.txt is read with pip-requirements-parser (pip's own parser, packaged): nested `-r`
files, line continuations, hashes and options all mean what they mean to pip.
"""

from __future__ import annotations

import configparser
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
from lockstep.errors import TemplateError
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pip_requirements_parser import RequirementsFile

# Where a DVC project usually lists what its stages import (DVC's own example keeps it in src/).
REQUIREMENTS_FILES = ("requirements.txt", "src/requirements.txt")
# pyproject.toml tables the kit owns; every other table of the project's own file is kept.
KIT_TOOLS = ("poetry", "lockstep")


@dataclass
class Declared:
    """What a project declares: requirements (in file order) and the lines adopt cannot lock."""

    requirements: list[tuple[str, Requirement]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def sources(self) -> list[str]:
        """The files the requirements came from, in order."""
        return list(dict.fromkeys(origin for origin, _ in self.requirements))


def declared(root: Path) -> Declared:
    """The dependencies `root` declares in requirements files, setup.cfg and pyproject.toml.

    Raises:
        TemplateError: a file cannot be parsed; the message names it.
    """
    found = Declared()
    for name in REQUIREMENTS_FILES:
        if (root / name).is_file():
            _read_requirements(root, name, found)
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(setup_cfg)
        except configparser.Error as exc:
            raise TemplateError(f"setup.cfg: {_one_line(exc)}", "fix its syntax") from None
        lines = parser.get("options", "install_requires", fallback="").splitlines()
        _add(found, "setup.cfg", [line.split("#")[0].strip() for line in lines])
    project = _pyproject(root / "pyproject.toml").get("project", {})
    _add(found, "pyproject.toml", project.get("dependencies", []))
    return found


def merge(kit_text: str, theirs_text: str | None, found: Declared) -> str:
    """The kit's rendered pyproject.toml with the project's own file and requirements merged in.

    The project's own tables stay (its ruff or pytest settings, its name and description) except
    those the kit owns: [build-system], [tool.poetry] and [tool.lockstep]. Its requirements join
    the kit's [project] dependencies.

    Raises:
        TemplateError: a requirement refuses the version the kit pins, or the project's file
            declares Poetry-style dependencies the kit cannot carry over.
    """
    document = tomlkit.parse(kit_text)
    project = document["project"]
    if theirs_text is not None:
        theirs = tomlkit.parse(theirs_text)
        if "dependencies" in theirs.get("tool", {}).get("poetry", {}):
            raise TemplateError(
                "pyproject.toml declares Poetry-style [tool.poetry.dependencies]",
                "move them to [project] dependencies (PEP 621), commit, and adopt again",
            )
        for key, value in theirs.get("project", {}).items():
            if key == "dynamic":
                value = [item for item in value if item != "dependencies"]
            if key not in ("dependencies", "requires-python", "scripts") and value != []:
                project[key] = value
        project.get("scripts", {}).update(theirs.get("project", {}).get("scripts", {}))
        for key, value in theirs.get("tool", {}).items():
            if key not in KIT_TOOLS:
                document["tool"][key] = value
        for key, value in theirs.items():
            if key not in ("build-system", "project", "tool"):
                document[key] = value
    dependencies = project["dependencies"]
    pinned = {canonicalize_name(Requirement(entry).name): i for i, entry in enumerate(dependencies)}
    added = []
    for origin, requirement in found.requirements:
        index = pinned.get(canonicalize_name(requirement.name))
        if index is None:
            added.append(str(requirement))
            continue
        kit = Requirement(dependencies[index])
        version = next(iter(kit.specifier)).version
        if not requirement.specifier.contains(version, prereleases=True):
            raise TemplateError(
                f"{origin} asks for {requirement} but the kit pins {kit.name} {version}",
                f"loosen it to accept {version} (the kit's code is tested with it), commit, and "
                "adopt again",
            )
        if requirement.extras - kit.extras:
            kit.extras |= requirement.extras
            dependencies[index] = str(kit)
    for entry in dict.fromkeys(added):
        dependencies.append(entry)
    return tomlkit.dumps(document)


def _read_requirements(root: Path, name: str, found: Declared) -> None:
    parsed = RequirementsFile.from_file(str(root / name), include_nested=True)
    if parsed.invalid_lines:
        bad = parsed.invalid_lines[0]
        raise TemplateError(
            f"{name}:{bad.line_number}: cannot read {bad.line!r}: {bad.error_message}",
            "fix the line (pip would refuse it too)",
        )
    for item in parsed.requirements:
        line = " ".join(item.line.split())
        if item.is_editable or item.req is None:
            # `-e .` installs the project itself: its code is mounted, and src/ is on the image's
            # PYTHONPATH. Other local paths have no version to lock.
            found.skipped.append(f"{name}: {line}")
        elif item.link is not None:
            found.requirements.append((name, Requirement(f"{item.req.name} @ {item.link.url}")))
        else:
            found.requirements.append((name, item.req))


def _add(found: Declared, origin: str, lines: list[str]) -> None:
    for line in lines:
        if not line:
            continue
        try:
            found.requirements.append((origin, Requirement(line)))
        except InvalidRequirement as exc:
            raise TemplateError(
                f"{origin}: {line!r} is not a requirement: {_one_line(exc)}",
                "write it as pip would read it, e.g. pandas>=2",
            ) from None


def _pyproject(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"pyproject.toml: {exc}", "fix its TOML syntax") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
