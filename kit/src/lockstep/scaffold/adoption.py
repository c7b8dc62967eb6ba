"""What `lockstep adopt` does to an existing DVC project besides adding the kit's files.

It checks the project can be adopted, makes every stage depend on the environment fingerprint
(editing dvc.yaml in place: comments, order, quoting and the stages' commands, dependencies and
outputs stay exactly as written), writes environment.yaml, sets the DVC remote, adds the kit's
commands to the README and git-ignores the kit's folders.
"""

from __future__ import annotations

import io
import itertools
import re
import sys
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml
from lockstep import git, paths, shell
from lockstep.errors import TemplateError
from lockstep.records import environment
from lockstep.records.environment import ENVIRONMENT_FILE
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

FINGERPRINT_KEY = "fingerprint"
UNBUILT = "unbuilt"
# The DVC remote adopt adds: where `./inv publish` sends results, data and images.
REMOTE = "lockstep"
README_SECTION = "readme-section.md"
# Written to .gitignore when missing: the toolchain's environment and the kit's caches.
IGNORED = ("/.venv/", f"/{paths.STATE}/", "__pycache__/")
# Any of these means the kit is there already.
KIT_MARKERS = (".copier-answers.yml", "src/lockstep")
# Where a stage's params go when it has none: after the first of these keys it has.
PARAMS_AFTER = ("deps", "cmd", "wdir")


def check_adoptable(root: Path) -> None:
    """Refuse a folder that is not a clean DVC project in git, or already uses the kit.

    Raises:
        TemplateError: saying which of these it is and what to do.
    """
    if not (root / "dvc.yaml").is_file() or not (root / ".dvc").is_dir():
        raise TemplateError(
            f"{root} is not a DVC project (no dvc.yaml and .dvc/)",
            "run `lockstep adopt` at the root of a DVC repository with its stages in dvc.yaml, "
            "or start a project with `lockstep new`",
        )
    if not git.is_repository(root):
        raise TemplateError(
            f"{root} is not in a git repository", "`git init` and commit the project first"
        )
    found = [marker for marker in KIT_MARKERS if (root / marker).exists()]
    if found or _has_kit_settings(root / "pyproject.toml"):
        raise TemplateError(
            f"{root} already uses the lockstep kit ({', '.join(found) or '[tool.lockstep]'})",
            "`lockstep update` brings it up to date",
        )
    if git.is_dirty(root):
        raise TemplateError(
            f"{root} has uncommitted changes",
            "commit or stash them first, so that the adoption is one commit of its own",
        )


def refuse_clashes(root: Path, files: Iterable[Path]) -> None:
    """Refuse to adopt when a file the kit adds exists already (pyproject.toml is merged).

    Raises:
        TemplateError: naming the files.
    """
    clashes = [
        str(path)
        for path in files
        if str(path) != "pyproject.toml" and ((root / path).exists() or (root / path).is_symlink())
    ]
    if clashes:
        raise TemplateError(
            f"{root} already has {', '.join(clashes)}",
            "move them aside, adopt, then carry over what you need",
        )


def depend_on_environment(dvc_yaml: Path) -> list[str]:
    """Add `environment.yaml: [fingerprint]` to every stage's params, in place.

    Returns:
        The stages that gained the dependency (stages that have it already are left alone).
    """
    text = dvc_yaml.read_text()
    # DVC's own YAML library: its round trip keeps comments, order, quoting and block scalars.
    loader = YAML()
    loader.preserve_quotes = True
    loader.width = 4096  # never re-wrap a long line
    loader.indent(**indentation(text))
    document = loader.load(text)
    changed = []
    for name, stage in (document.get("stages") or {}).items():
        # A `foreach` stage keeps its definition under `do`.
        body = stage.get("do", stage) if isinstance(stage, dict) else None
        if not isinstance(body, dict):
            continue
        entry = CommentedMap({ENVIRONMENT_FILE: CommentedSeq([FINGERPRINT_KEY])})
        params = body.get("params")
        if params is None:
            keys = list(body)
            after = next((keys.index(key) + 1 for key in PARAMS_AFTER if key in body), len(keys))
            body.insert(after, "params", CommentedSeq([entry]))
        elif _depends_on_fingerprint(params):
            continue
        else:
            params.append(entry)
        changed.append(name)
    if changed:
        buffer = io.StringIO()
        loader.dump(document, buffer)
        _check_only_params_changed(text, buffer.getvalue())
        dvc_yaml.write_text(buffer.getvalue())
    return changed


def indentation(text: str) -> dict[str, int]:
    """The ruamel.yaml indent settings matching the file's: mapping step, and where dashes sit."""
    mapping, offset = 2, 2
    lines = [line for line in text.splitlines() if line.strip() and line.lstrip()[0] != "#"]
    for parent, child in itertools.pairwise(lines):
        if not parent.rstrip().endswith(":"):
            continue
        step = _indent(child) - _indent(parent)
        if child.lstrip().startswith("- "):
            offset = step
            break
        if step > 0:
            mapping = step
    return {"mapping": mapping, "sequence": offset + 2, "offset": offset}


def ignore_kit_folders(gitignore: Path) -> list[str]:
    """Append the kit's folders to .gitignore where missing; return the lines added."""
    text = gitignore.read_text() if gitignore.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in IGNORED if line not in present]
    if missing:
        separator = "" if not text or text.endswith("\n") else "\n"
        block = "# lockstep: the toolchain's environment and the kit's caches\n"
        gitignore.write_text(text + separator + block + "\n".join(missing) + "\n")
    return missing


def write_environment(root: Path) -> bool:
    """Write environment.yaml (`fingerprint: unbuilt`) when missing, so plain `dvc repro` works.

    Results of such a run depend on "unbuilt": the first `./inv build` records the image's
    fingerprint, which makes them stale until `./inv repro` runs them in the image.
    """
    if (root / ENVIRONMENT_FILE).exists():
        return False
    environment.write_environment(root, UNBUILT)
    return True


def use_remote(root: Path, url: str, *, replace: bool) -> str | None:
    """Make `url` the default DVC remote (named `lockstep`) unless the project has one it keeps.

    Args:
        root: the project.
        url: a folder (relative to the project, or absolute) or a URL.
        replace: the user chose this remote, so it replaces the project's default.

    Returns:
        The project's own default remote when it is kept, else None.
    """
    dvc = [sys.executable, "-m", "dvc", "remote"]
    current = shell.run([*dvc, "default"], cwd=root, capture=True, check=False, quiet=True)
    kept = current.stdout.strip() if current.returncode == 0 else ""
    if kept and not replace:
        return kept
    shell.run([*dvc, "add", "--project", "--default", "--force", REMOTE, url], cwd=root)
    return None


def add_readme_section(readme: Path) -> None:
    """Append the kit's commands to the project's README (made when it has none)."""
    text = readme.read_text() if readme.exists() else f"# {readme.parent.name}\n"
    section = resources.files(__package__).joinpath(README_SECTION).read_text()
    separator = "" if text.endswith("\n") else "\n"
    readme.write_text(text + separator + "\n" + section)


def _depends_on_fingerprint(params: list) -> bool:
    for item in params:
        if isinstance(item, dict) and FINGERPRINT_KEY in (item.get(ENVIRONMENT_FILE) or []):
            return True
        if item == f"{ENVIRONMENT_FILE}:{FINGERPRINT_KEY}":
            return True
    return False


def _check_only_params_changed(before: str, after: str) -> None:
    """The edit must leave everything but the stages' params as it was."""
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    for stages in (old.get("stages"), new.get("stages")):
        for stage in stages.values():
            body = stage.get("do", stage)
            body.pop("params", None)
    if old != new:
        raise TemplateError(
            "editing dvc.yaml would change more than the stages' params", "report this"
        )


def _indent(line: str) -> int:
    return len(re.match(r"\s*", line).group(0))


def _has_kit_settings(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return "lockstep" in data.get("tool", {})
