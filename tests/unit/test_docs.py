"""The README and every page in docs/ are executable documentation: what they name must exist.

Each page is held to the same checks: every `./inv TASK` is a real task and every `--flag` given
to it one of that task's options; every relative link (and its #anchor) leads somewhere; every
repository path written in backticks exists. The README stays short, every docs page is linked
from it or from docs/README.md, and its map of the kit names every folder of the kit.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import markdown
from tests.support.markdown import code_lines, prose, spans, table_rows

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
INDEX = DOCS / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
KIT = "kit/src/lockstep"
README_MAX_LINES = 260

# `./inv`, and the words after it up to the next `./inv`, a backtick or a table's bar.
INV = re.compile(r"\./inv\b((?:\s+(?!\./inv\b)[^\s`|]+)*)")
# Options of ./inv itself, written before the task: invoke's --list, the kit's --verbose.
INV_OPTIONS = {"--list", "--verbose"}
# Options every task takes, written after it: invoke's --help, the kit's --verbose.
TASK_OPTIONS = {"--help", "--verbose"}
# A backticked word with one of these endings is a file name, with or without a folder.
SUFFIXES = (".py", ".toml", ".yaml", ".yml", ".md", ".lock", ".json", ".sh", ".txt")
# Words that stand for a value in a path (`reports/sbom/IMAGE.cdx.json`): not checked.
PLACEHOLDERS = {
    "COMMIT",
    "FOLDER",
    "HOST",
    "IMAGE",
    "JOBID",
    "NAME",
    "PACKAGE",
    "PATH",
    "PID",
    "PORT",
    "REV",
    "TIME",
    "TREE",
}
# Git refs written like paths: release tags and DVC's experiment refs.
REFS = ("model/", "refs/")
# Paths that are not this repository's, each with where it is, and what a task makes that a
# checkout does not hold (what it makes under a git-ignored folder is skipped by git's rules).
ELSEWHERE = {
    "requirements.txt": "in a project being adopted",
    "src/requirements.txt": "in a project being adopted",
    ".copier-answers.yml": "in a project made from the template",
    "batch/v1": "a Kubernetes API version",
    "config.json": "an OCI bundle's",
    "nvidia.com/gpu.product": "a Kubernetes node label",
    "keys/": "made by ./inv keygen",
    "reports/attestation.json": "made by a signed run",
    "reports/reruns/": "made by ./inv rerun --html and a signed rerun",
}


def read(page: Path) -> str:
    return page.read_text()


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def links(page: Path) -> list[str]:
    return markdown.links(read(page))


@functools.cache
def namespace():
    spec = importlib.util.spec_from_file_location("project_tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    return tasks.namespace


@functools.cache
def options(task: str) -> frozenset[str]:
    """The command-line options of a task, as invoke spells them (`--update-base`, `-u`)."""
    names = [n for argument in namespace()[task].get_arguments() for n in argument.names]
    return frozenset(f"--{n}" if len(n) > 1 else f"-{n}" for n in names) | TASK_OPTIONS


def invocations(command: str) -> list[tuple[str, list[str]]]:
    """Each `./inv` in a command line: its task (None for `./inv` alone, or a placeholder
    such as TASK) and the options written after it, up to `--` (after which the arguments are
    DVC's or pytest's). Options written before the task must be ./inv's own."""
    found = []
    for match in INV.finditer(command):
        words = match.group(1).split()
        before = []
        while words and words[0].startswith("-") and words[0] != "--":
            before.append(words.pop(0))
        assert set(before) <= INV_OPTIONS, f"{command!r}: {before} are not options of ./inv"
        if not words or not re.fullmatch(r"[a-z][a-z0-9_-]*", words[0]):
            found.append((None, []))
            continue
        task, rest = words[0], words[1:]
        if "--" in rest:
            rest = rest[: rest.index("--")]
        found.append((task, [option(w) for w in rest if w.startswith("-")]))
    return found


def option(word: str) -> str:
    """An option as written, less its value and any quote or punctuation after it."""
    return re.match(r"--?[^\s=\'\",;:)]*", word).group(0)


def commands(text: str) -> list[str]:
    """The places a task is written with its options: code spans and lines of code blocks."""
    return [c for c in [*spans(text), *code_lines(text)] if "./inv" in c]


def row_options(text: str) -> list[tuple[str, str, list[str]]]:
    """In a table row whose first cell names one task, the options in the row's other spans
    (`| ./inv build | ... (--target dev ...)`) are that task's."""
    found = []
    for row in table_rows(text):
        cells = row.strip("|").split("|")
        tasks = [t for t, _ in invocations(cells[0]) if t]
        if len(tasks) != 1:
            continue
        for span in spans("|".join(cells[1:])):
            first = span.split()[0]
            if first.startswith("--") and first != "--":
                found.append((row, tasks[0], [option(first)]))
    return found


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_task_named_is_a_task(page):
    tasks = namespace().task_names
    named = {t for c in [prose(read(page)), *code_lines(read(page))] for t, _ in invocations(c)}
    unknown = sorted(named - set(tasks) - {None})
    assert not unknown, f"{name(page)} names ./inv {unknown}, which are not tasks"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_option_given_to_a_task_is_one_of_its_options(page):
    text = read(page)
    given = [(c, t, o) for c in commands(text) for t, o in invocations(c) if t]
    given += row_options(text)
    tasks = namespace().task_names
    wrong = [
        f"{where!r}: {option} is not an option of ./inv {task}"
        for where, task, written in given
        if task in tasks
        for option in written
        if option not in options(task)
    ]
    assert not wrong, f"{name(page)}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_leads_somewhere(page):
    broken = markdown.broken_links(page, ROOT)
    assert not broken, f"{name(page)}:\n" + "\n".join(broken)


def looks_like_a_path(span: str) -> bool:
    """A backticked repository path: one word, with a folder or a file name's ending."""
    return " " not in span and ("/" in span or span.endswith(SUFFIXES))


def checked(span: str) -> bool:
    """Whether a path-like span names a path of this checkout (rather than a placeholder, a
    glob, a ref, a URL, an option, or a path in the image, the home folder or elsewhere)."""
    return not (
        span.startswith(("/", "~", "$", "-", "..", *REFS))
        or any(c in span for c in "<>*?{}[]:=@")
        or "..." in span
        or "…" in span
        or set(re.findall(r"[A-Z]{2,}", span)) & PLACEHOLDERS
        or span in ELSEWHERE
        or span in SUFFIXES
    )


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


@functools.cache
def dvc_tracked() -> frozenset[str]:
    """What DVC tracks here (stage outputs, `dvc add`ed data): in the cache, not in git."""
    tracked = set()
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        tracked |= {out["path"] for out in stage.get("outs", [])}
    for listed in git("ls-files", "*.dvc").splitlines():
        dvc_file = ROOT / listed
        for out in yaml.safe_load(dvc_file.read_text()).get("outs", []):
            tracked.add(str((dvc_file.parent / out["path"]).relative_to(ROOT)))
    return frozenset(tracked)


def git_ignored(path: str) -> bool:
    """What the kit makes at run time lives in git-ignored folders (`.lockstep/`, `.venv/`)."""
    proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    return proc.returncode == 0


@functools.cache
def tracked_names() -> frozenset[str]:
    return frozenset(Path(line).name for line in git("ls-files").splitlines())


def exists(span: str) -> bool:
    path = span.removeprefix("./").rstrip("/")
    if (ROOT / path).exists():
        return True
    if "/" not in span:  # a file name alone (`ci.yml`): some tracked file's
        return path in tracked_names()
    if any(path == t or path.startswith(f"{t}/") for t in dvc_tracked()):
        return True
    return git_ignored(span.removeprefix("./"))


def missing_paths(page: Path) -> list[str]:
    named = {s for s in spans(read(page)) if looks_like_a_path(s) and checked(s)}
    return sorted(s for s in named if not exists(s))


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_path_in_backticks_exists(page):
    missing = missing_paths(page)
    assert not missing, f"{name(page)} names paths that do not exist:\n" + "\n".join(missing)


def test_every_path_said_to_be_elsewhere_is_named_and_not_here():
    named = {s for page in PAGES for s in spans(read(page))}
    unused = sorted(set(ELSEWHERE) - named)
    assert not unused, f"no page names {unused}: drop them from ELSEWHERE"
    here = sorted(p for p in ELSEWHERE if (ROOT / p).exists())
    assert not here, f"{here} exist here: drop them from ELSEWHERE"


def test_every_docs_page_is_linked_from_the_readme_or_the_index():
    linked = {
        (page.parent / link.partition("#")[0]).resolve()
        for page in (README, INDEX)
        for link in links(page)
    }
    pages = [p for p in PAGES if p not in (README, INDEX)]
    assert pages, "docs/ has no pages"
    unlinked = [name(p) for p in pages if p.resolve() not in linked]
    assert not unlinked, f"not linked from README.md or docs/README.md: {unlinked}"
    assert INDEX.resolve() in linked, "the README does not link docs/README.md"


def test_the_readme_is_an_entrance_not_a_manual():
    lines = len(read(README).splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"


def kit_map() -> list[str]:
    """The paths the README's map of the kit names, under kit/src/lockstep/."""
    section = re.search(r"^## The kit's code\n(.*?)(?=^## |\Z)", read(README), re.S | re.M)
    assert section, "README has no '## The kit's code' section"
    tree = re.search(r"```\n(.*?)```", section.group(1), re.S).group(1).splitlines()
    assert tree[0] == f"{KIT}/", f"the map starts at {tree[0]!r}, not {KIT}/"
    named, folder = [], ""
    for line in tree[1:]:
        indent = len(line) - len(line.lstrip())
        if indent not in (2, 4):
            continue  # a description's next line
        names = line.strip().split("  ")[0].split()
        if indent == 2:
            folder = names[-1] if names[-1].endswith("/") else ""
        named += [(folder if indent == 4 else "") + n for n in names]
    return named


def test_the_kits_map_names_what_exists():
    missing = [f"{KIT}/{n}" for n in kit_map() if not (ROOT / KIT / n).exists()]
    assert not missing, "the README's map of the kit names paths that do not exist:\n" + "\n".join(
        missing
    )


def test_the_kits_map_names_every_folder_of_the_kit():
    folders = {
        f"{p.relative_to(ROOT / KIT)}/"
        for p in (ROOT / KIT).rglob("*")
        if p.is_dir() and p.name != "__pycache__"
    }
    assert folders, "the kit has no folders"
    unnamed = sorted(folders - set(kit_map()))
    assert not unnamed, f"the README's map of the kit does not name {unnamed}"


def test_the_kits_map_names_every_module_at_its_top():
    modules = {p.name for p in (ROOT / KIT).glob("*.py") if p.name != "__init__.py"}
    assert modules, "the kit has no modules at its top"
    unnamed = sorted(modules - set(kit_map()))
    assert not unnamed, f"the README's map of the kit does not name {unnamed}"
