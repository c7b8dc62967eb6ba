"""Projects from the lockstep template: make one, update one, adopt an existing DVC project.

The template is the kit's own repository, rendered with Copier: copier.yml at its root, the
files in template/project, most of them symlinks to the repository's own files. Its versions
are the repository's git tags (or commits). A project records the version it was made from and
its answers in `.copier-answers.yml`; `update` merges a newer version in by a three-way merge,
so the project's own edits survive and clashing edits get conflict markers. A project holds no
copy of the kit: it pins `lockstep-kit` and locks it (`new` and `adopt` lock; an update never
touches the project's poetry.lock).

Copier is a development dependency (host tools, never the runtime image): it is imported only
when a command needs it.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lockstep import __version__, git, lockfile, paths, shell, tools
from lockstep.errors import CommandError, TemplateError
from lockstep.scaffold import adoption, dependencies
from lockstep.shell import say

ANSWERS_FILE = ".copier-answers.yml"
TEMPLATE_CONFIG = "copier.yml"
# The kit's distribution (its import package is `lockstep`).
DISTRIBUTION = "lockstep-kit"
# Names the template's source (a local clone, a company mirror) for `new` and `adopt`.
SOURCE_ENV = "LOCKSTEP_TEMPLATE"


def _checkout(here: Path) -> Path | None:
    """The kit's repository this module runs from, or the project that vendors it; else None.

    None for an installed kit (a tool's or a project's environment): it finds its template
    through its settings and its distribution's metadata instead.
    """
    markers = (TEMPLATE_CONFIG, ANSWERS_FILE)
    return next((p for p in here.parents if any((p / m).is_file() for m in markers)), None)


KIT_ROOT = _checkout(Path(__file__).resolve())


@dataclass(frozen=True)
class Update:
    """What `update` did: the versions before and after, and where it left conflicts."""

    before: str
    after: str
    changed: list[str]
    conflicts: list[str]


def default_source(kit_root: Path | None = KIT_ROOT) -> str:
    """Where the template comes from when no --template is given.

    In order: $LOCKSTEP_TEMPLATE; the kit's own repository (a checkout); the template the
    project vendoring this kit was made from; the `Source` URL of the installed distribution.

    Raises:
        TemplateError: none of them is known.
    """
    if chosen := os.environ.get(SOURCE_ENV):
        return chosen
    if kit_root and (kit_root / TEMPLATE_CONFIG).is_file():
        return str(kit_root)
    answers = kit_root / ANSWERS_FILE if kit_root else None
    if answers and answers.is_file():
        source = (yaml.safe_load(answers.read_text()) or {}).get("_src_path")
        if source:
            return str(source)
    if published := _published_source():
        return published
    raise TemplateError(
        "this lockstep kit does not know where its template is",
        f"pass --template (or set {SOURCE_ENV}) to the path or git URL of the kit's "
        f"repository; its tag v{__version__} is this kit's template",
    )


def default_ref(kit_root: Path | None = KIT_ROOT) -> str | None:
    """The template version to use when none is given.

    An installed kit uses the tag of its own version (`v0.2.0`), so the files it writes match
    the code it runs; a checkout leaves it to Copier (the newest tag, else HEAD).
    """
    return None if kit_root else f"v{__version__}"


def _published_source() -> str | None:
    """The `Source` URL the installed kit's distribution names, if any."""
    try:
        urls = importlib.metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = (url.split(",", 1) for url in urls if "," in url)
    return next((url.strip() for label, url in found if label.strip() == "Source"), None)


def read_answers(root: Path) -> dict[str, Any]:
    """A project's recorded template version and answers.

    Raises:
        TemplateError: the project has no answers file.
    """
    path = root / ANSWERS_FILE
    if not path.is_file():
        raise TemplateError(
            f"{root} was not made from the lockstep template (no {ANSWERS_FILE})",
            "start one with `lockstep new`, or bring the kit into a DVC project with "
            "`lockstep adopt`",
        )
    return yaml.safe_load(path.read_text()) or {}


def new(
    dest: Path,
    *,
    source: str | None = None,
    answers: Mapping[str, Any] | None = None,
    defaults: bool = False,
    vcs_ref: str | None = None,
) -> dict[str, Any]:
    """Make a project in `dest` (new or empty): git and DVC repositories, template, first commit.

    Args:
        dest: the project folder; created when missing, refused when not empty.
        source: template path or git URL (default: the template beside this kit).
        answers: answers to questions, by name; the others are asked, or defaulted.
        defaults: take every default instead of asking.
        vcs_ref: template version (git tag or commit; default: its newest version tag, else
            HEAD with any uncommitted changes).

    Returns:
        The recorded answers, with the template version as `_commit`.

    Raises:
        TemplateError: `dest` is not empty, an answer is invalid, or the template fails.
    """
    dest = dest.absolute()
    source = source or default_source()  # before anything is made: it may not be known
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise TemplateError(f"{dest} exists and is not empty", "choose a new folder")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        git.init(dest)
        # The template then replaces DVC's config with one naming the project's remote.
        shell.run([sys.executable, "-m", "dvc", "init", "--quiet"], cwd=dest)
        render(source, dest, {**(answers or {}), "mode": "new"}, defaults, vcs_ref)
        say("locking the project's dependencies and the kit it pins")
        _lock(dest, dest)
    except BaseException:
        _remove_contents(dest, remove_folder=created)
        raise
    recorded = read_answers(dest)
    _commit(dest, f"New project from the lockstep template {recorded.get('_commit', '')}")
    return recorded


def update(root: Path, *, vcs_ref: str | None = None) -> Update:
    """Merge the template's newer version into a project, keeping the project's own edits.

    Args:
        root: the project (its git working tree must be clean).
        vcs_ref: template version to update to (default: its newest version tag, else HEAD).

    Returns:
        The versions before and after, the files changed and those left with conflict markers.

    Raises:
        TemplateError: no answers file, uncommitted changes, or the template fails.
    """
    root = root.absolute()
    before = read_answers(root).get("_commit", "")
    if git.is_dirty(root):
        raise TemplateError(
            f"{root} has uncommitted changes",
            "commit or stash them first: the update must be reviewable on its own",
        )
    copier = _copier()
    _call(
        copier.run_update,
        dst_path=root,
        vcs_ref=vcs_ref or default_ref(),
        defaults=True,
        skip_answered=True,
        overwrite=True,
        conflict="inline",
        quiet=True,
    )
    after = read_answers(root).get("_commit", "")
    return Update(before, after, git.changed_files(root), git.unmerged_files(root))


def adopt(
    root: Path,
    *,
    source: str | None = None,
    answers: Mapping[str, Any] | None = None,
    defaults: bool = False,
    vcs_ref: str | None = None,
) -> dict[str, Any]:
    """Bring the kit into an existing DVC project, leaving its pipeline's stages as they are.

    Adds the kit's files (`inv`, tasks.py, docker/, the devcontainer, pyproject.toml pinning the
    kit with the kit's locked dependencies and the project's own, merged into the project's
    pyproject.toml if it has one, and poetry.lock locking them all), makes every stage
    depend on the environment fingerprint, writes environment.yaml, sets the DVC remote, adds the
    kit's commands to the README, git-ignores the kit's folders and commits the result. Nothing
    in the project changes until the lock has succeeded.

    Raises:
        TemplateError: not a DVC project, already adopted, uncommitted changes, files the kit
            would add exist already, or the project's requirements cannot be locked.
    """
    root = root.absolute()
    source = source or default_source()
    adoption.check_adoptable(root)
    found = dependencies.declared(root)
    theirs = root / "pyproject.toml"
    with tempfile.TemporaryDirectory(prefix="lockstep-adopt-") as tmp:
        # Named like the project, so the project name defaults to its folder's name.
        staged = Path(tmp) / root.name
        render(source, staged, {**(answers or {}), "mode": "adopt"}, defaults, vcs_ref)
        files = sorted(path.relative_to(staged) for path in staged.rglob("*") if not path.is_dir())
        adoption.refuse_clashes(root, files)
        merged = dependencies.merge(
            (staged / "pyproject.toml").read_text(),
            theirs.read_text() if theirs.exists() else None,
            found,
        )
        (staged / "pyproject.toml").write_text(merged)
        for line in found.skipped:
            say(f"not imported (nothing to lock): {line}")
        if found.requirements or theirs.exists():
            say(f"importing the dependencies of {', '.join(found.sources() or ['pyproject.toml'])}")
        _lock(root, staged)
        for relative in files:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(staged / relative, root / relative)
    recorded = read_answers(root)
    adoption.depend_on_environment(root / "dvc.yaml")
    adoption.write_environment(root)
    # An answer given (or typed at the prompt) replaces the project's default remote.
    chosen = not defaults or "dvc_remote" in (answers or {})
    kept = adoption.use_remote(root, recorded["dvc_remote"], replace=chosen)
    if kept:
        say(
            f"`./inv publish` sends to your default DVC remote {kept!r} (--data dvc_remote=URL "
            "at adoption sets another)"
        )
    adoption.add_readme_section(root / "README.md")
    adoption.ignore_kit_folders(root / ".gitignore")
    _commit(root, f"Adopt the lockstep kit {recorded.get('_commit', '')}")
    return recorded


def _lock(root: Path, staged: Path) -> None:
    """Lock the staged pyproject.toml with the project's pinned Poetry.

    Poetry installs into the project's .lockstep/ (where `./inv` finds it later); that folder is
    removed again when the lock fails and it was not there before.
    """
    existed = (root / paths.STATE).exists()
    try:
        poetry = tools.ensure_poetry(root, pins=staged)
        lockfile.lock(poetry, staged)
    except BaseException as exc:
        if not existed:
            shutil.rmtree(root / paths.STATE, ignore_errors=True)
        if isinstance(exc, CommandError):
            raise TemplateError(
                f"cannot lock the project's dependencies with the kit's: {exc.message}",
                "change the requirement Poetry names, or make the kit's version reachable on "
                "your package index (pip's index-url or extra-index-url); nothing was kept",
            ) from None
        raise


def render(
    source: str | None,
    dest: Path,
    answers: Mapping[str, Any],
    defaults: bool,
    vcs_ref: str | None,
) -> None:
    """Render the template into `dest`, overwriting what is there."""
    copier = _copier()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _call(
            copier.run_copy,
            src_path=source or default_source(),
            dst_path=dest,
            data=dict(answers),
            defaults=defaults,
            vcs_ref=vcs_ref or default_ref(),
            overwrite=True,
            quiet=True,
        )
    if any(issubclass(w.category, copier.errors.DirtyLocalWarning) for w in caught):
        say(
            "the template's repository has uncommitted changes; they are included, but "
            "`lockstep update` can only start from a committed version: commit (and tag) the kit"
        )


def _copier():
    """The copier module, or a clear error where it is not installed."""
    try:
        import copier
        import copier.errors
    except ImportError:
        raise TemplateError(
            "copier is not installed here: the kit was installed without its command line",
            "install it as `uv tool install 'lockstep-kit[cli]'`, or run it from a project's "
            ".venv (`./inv --list` installs it)",
        ) from None
    return copier


def _call(func: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a Copier function, turning its errors into one-line TemplateErrors."""
    copier = _copier()
    try:
        return func(**kwargs)
    except copier.errors.InteractiveSessionError:
        raise TemplateError(
            "cannot ask the template's questions: no terminal",
            "answer them with --defaults, --answers FILE or --data NAME=VALUE",
        ) from None
    except copier.errors.CopierError as exc:
        raise TemplateError(
            _one_line(exc), "check the template's source and version (--template, --vcs-ref)"
        ) from None
    except ValueError as exc:  # an answer its question's validator or choices refuse
        raise TemplateError(
            _one_line(exc), "give another answer: --data NAME=VALUE (--help lists the questions)"
        ) from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _commit(root: Path, message: str) -> None:
    """Stage everything and commit; a missing git identity leaves the files for the user."""
    try:
        git.commit_all(root, message)
    except CommandError as exc:
        raise TemplateError(
            f"the files are in {root}, but git commit failed: {exc.message}",
            "set git's user.name and user.email, then commit them yourself",
        ) from None


def _remove_contents(folder: Path, *, remove_folder: bool) -> None:
    """Undo a failed `new`: the folder was empty (or missing) before."""
    if remove_folder:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
