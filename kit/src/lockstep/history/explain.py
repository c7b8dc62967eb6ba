"""`invoke diff A B`: why two results differ, the likely causes first.

A result is a revision (its commit, dvc.lock, lineage and SBOMs) or the workspace. Every input
the kit records is compared, and each difference is a cause of one kind; the kinds are ranked
from the most upstream to the least, since an upstream change explains the ones below it:

1. params the stages read (dvc.lock's values), 2. code (files git tracks), 3. data (DVC's
hashes of inputs no stage makes), 4. `poetry.lock` (versions, wheel hashes), 5. Debian
packages and 6. Python distributions installed (the images' SBOMs), 7. files inside the
images (path and content, timestamps ignored), 8. the machine (numeric env vars, BLAS kernel
and threads, CPU). A lock bump also changes the image's distributions and files: it ranks above
them, so it is named first. Then what differs as a result: outputs and metrics.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from lockstep import git, paths, shell, yamltext
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import LineageError, LockstepError
from lockstep.files import atomic_write
from lockstep.history.causes import Cause, changes, facts, machine_changes, show
from lockstep.history.metrics import leaves, read_metrics
from lockstep.images import sbom
from lockstep.records import lineage, signing
from lockstep.records.environment import ENVIRONMENT_FILE

WORKSPACE = "workspace"
# Files whose changes another kind reports, or that are results rather than inputs.
RECORDS = ("dvc.lock", lineage.PATH, "poetry.lock", ENVIRONMENT_FILE, signing.PATH)
RECORD_FOLDERS = (sbom.FOLDER,)
# Files every container gets from the engine, not from its image.
ENGINE_FILES = frozenset({".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf"})
SHOWN = 8  # causes of one kind listed; the rest are counted


@dataclass(frozen=True)
class Side:
    """One result: what a revision (or the workspace) records."""

    name: str
    commit: str  # "" for the workspace
    text: Callable[[str], str | None]  # a tracked file's text, None when absent
    dvc_lock: dict
    record: lineage.LineageRecord | None


@dataclass
class Report:
    """The causes, ranked, and what differs in the results."""

    a: str
    b: str
    causes: list[Cause] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ranked(self) -> list[Cause]:
        """The causes, most upstream kind first; each kind keeps its own order (stable)."""
        return sorted(self.causes, key=Cause.rank)

    def text(self) -> str:
        """The report as people read it."""
        if not (self.causes or self.outputs or self.metrics):
            same = f"no difference between {self.a} and {self.b}: same inputs, same results"
            return "\n".join([same, *self.notes])
        lines = []
        lines.append("causes, most likely first:" if self.causes else "causes: none recorded")
        shown: dict[str, int] = {}
        number = 0
        for cause in self.ranked():
            shown[cause.kind] = shown.get(cause.kind, 0) + 1
            if shown[cause.kind] <= SHOWN:
                number += 1
                lines.append(f"  {number:2}. {cause.kind:8} {cause.what}")
            elif shown[cause.kind] == SHOWN + 1:
                more = sum(c.kind == cause.kind for c in self.causes) - SHOWN
                lines.append(f"      {cause.kind:8} and {more} more")
        if not self.causes and (self.outputs or self.metrics):
            lines.append("  every recorded input is the same: a stage is not deterministic")
        if self.outputs or self.metrics:
            lines.append("what differs:")
            lines += [f"  output   {path}" for path in self.outputs]
            lines += [f"  metric   {line}" for line in self.metrics]
        return "\n".join(lines + self.notes)


def side(root: Path, name: str) -> Side:
    """The result a revision names, or the workspace's for `workspace`.

    Raises:
        RevisionError: an unknown revision.
    """
    if name == WORKSPACE:

        def text(path: str) -> str | None:
            return (root / path).read_text() if (root / path).is_file() else None

        commit = ""
    else:
        commit = git.resolve(root, name)

        def text(path: str) -> str | None:
            try:
                return git.show(root, commit, path)
            except LockstepError:
                return None

    found = text(lineage.PATH)
    record = lineage.parse(found, f"{lineage.PATH} at {name}") if found else None
    return Side(name, commit, text, yamltext.load(text("dvc.lock") or "") or {}, record)


def diff(settings: Settings, engine: Engine, a: str, b: str) -> Report:
    """Compare two results; see the module docstring."""
    root = settings.root
    left, right = side(root, a), side(root, b)
    report = Report(a, b)
    params = params_of(left), params_of(right)
    report.causes += changes("param", *params)
    params_files = {key.split(":", 1)[0] for values in params for key in values}
    locked = lock_changes(left.text("poetry.lock"), right.text("poetry.lock"))
    report.causes += code(root, left, right, params_files, settings.base.manifest, bool(locked))
    report.causes += changes("data", data_hashes(root, left), data_hashes(root, right))
    report.causes += locked
    inventories = [installed(root, engine, s, report.notes) for s in (left, right)]
    if all(inventories):  # one side unknown is no evidence that everything changed
        report.causes += changes("debian", *(found["deb"] for found in inventories))
        report.causes += changes("python", *(found["pypi"] for found in inventories))
    report.causes += image_files(root, engine, left, right, report.notes)
    report.causes += machine_changes(facts(left.record), facts(right.record))
    outs = lineage.output_hashes(left.dvc_lock), lineage.output_hashes(right.dvc_lock)
    report.outputs = [
        path
        for path in sorted(outs[0].keys() | outs[1].keys())
        if outs[0].get(path) != outs[1].get(path)
    ]
    report.metrics = metric_changes(root, left, right)
    return report


def params_of(result: Side) -> dict[str, object]:
    """Every param value dvc.lock records, by `file:dotted.key` (the values the run used)."""
    found = {}
    for entry in result.dvc_lock.get("stages", {}).values():
        for file, values in entry.get("params", {}).items():
            if file == ENVIRONMENT_FILE:  # the image's fingerprint: the image kinds report it
                continue
            for key, value in leaves(values).items():
                found[f"{file}:{key}"] = value
    return found


def code(
    root: Path, a: Side, b: Side, params_files: set[str], manifest: str, locked: bool
) -> list[Cause]:
    """Each file git tracks that differs, but records, results and the params files.

    The base's package manifest (`manifest`) is a Debian change, and reported as one; with a
    lock that changed (`locked`), pyproject.toml is part of that change, after its entries.
    """
    if a.commit and b.commit:
        revs = [a.commit, b.commit]
    elif a.commit or b.commit:
        # The workspace against a revision: `-R` lists the change from the workspace's side.
        revs = [a.commit] if a.commit else ["-R", b.commit]
    else:
        return []
    listed = shell.output(["git", "diff", "--name-status", *revs], cwd=root)
    results = set(lineage.output_hashes(a.dvc_lock)) | set(lineage.output_hashes(b.dvc_lock))
    # A stage's own dependencies come first: they change its outputs; then the rest.
    read = {
        dep["path"]
        for s in (a, b)
        for e in s.dvc_lock.get("stages", {}).values()
        for dep in e.get("deps", [])
    }
    found = []
    for line in listed.splitlines():
        status, _, path = line.partition("\t")
        if path == manifest:
            found.append(Cause("debian", f"{path} changed (the base's packages)"))
        elif path == "pyproject.toml" and locked:
            found.append(Cause("lock", f"{path} changed (the dependencies declared)", 1))
        elif not (path in params_files or path.endswith(".dvc") or _is_result(path, results)):
            verb = {"A": "added", "D": "removed"}.get(status[:1], "changed")
            found.append(Cause("code", f"{path} {verb}", 0 if path in read else 1))
    return found


def _is_result(path: str, outputs: set[str]) -> bool:
    """A record the kit writes, or an output of a stage (a file or inside its folder)."""
    folders = (*RECORD_FOLDERS, *outputs)
    return path in RECORDS or path in outputs or any(path.startswith(f"{f}/") for f in folders)


def data_hashes(root: Path, result: Side) -> dict[str, str]:
    """DVC's hash of every input no stage makes: `.dvc` files' outputs and dvc.lock's deps.

    A dependency git tracks is code, not data: only those DVC tracks count here.
    """
    outputs = set(lineage.output_hashes(result.dvc_lock))
    tracked = _tracked(root, result)
    found = {}
    for entry in result.dvc_lock.get("stages", {}).values():
        for dep in entry.get("deps", []):
            if dep["path"] not in outputs and dep["path"] not in tracked:
                found[dep["path"]] = dep.get("md5", "")
    for name in (n for n in tracked if n.endswith(".dvc")):
        for out in (yamltext.load(result.text(name) or "") or {}).get("outs", []):
            found[str(PurePosixPath(name).parent / out["path"])] = out.get("md5", "")
    return found


def _tracked(root: Path, result: Side) -> set[str]:
    cmd = (
        ["git", "ls-tree", "-r", "--name-only", result.commit]
        if result.commit
        else ["git", "ls-files"]
    )
    return set(shell.output(cmd, cwd=root).splitlines())


def lock_changes(a: str | None, b: str | None) -> list[Cause]:
    """poetry.lock's differences: versions, and wheel hashes that changed under one version."""
    old, new = _locked(a), _locked(b)
    found = changes("lock", {k: v[0] for k, v in old.items()}, {k: v[0] for k, v in new.items()})
    for name in sorted(old.keys() & new.keys()):
        if old[name][0] == new[name][0] and old[name][1] != new[name][1]:
            found.append(Cause("lock", f"{name} {old[name][0]}: its files' hashes changed"))
    return found


def _locked(text: str | None) -> dict[str, tuple[str, frozenset[str]]]:
    packages = tomllib.loads(text or "").get("package", [])
    return {
        p["name"]: (p["version"], frozenset(f["hash"] for f in p.get("files", [])))
        for p in packages
    }


def installed(root: Path, engine: Engine, result: Side, notes: list[str]) -> dict:
    """What the images of a result hold, from their SBOMs: {"deb"|"pypi": {name: version}}."""
    if result.record is None:
        return {}
    try:
        documents = sbom.recorded(root, engine, result.commit and result.name)
    except LineageError as exc:
        notes.append(f"note: packages of {result.name} not compared: {exc}")
        return {}
    found: dict[str, dict[str, str]] = {"deb": {}, "pypi": {}}
    for text in documents.values():
        for component in json.loads(text).get("components", []):
            kind = component.get("purl", "")[4:].split("/", 1)[0]
            if kind in found:
                found[kind][component["name"]] = component.get("version", "")
    return found


def image_files(root: Path, engine: Engine, a: Side, b: Side, notes: list[str]) -> list[Cause]:
    """Files that differ between the images each stage ran in, where the images differ."""
    pairs = set()
    for stage in sorted(_stages(a) & _stages(b)):
        ids = [s.record.stages[stage].environment.image_id for s in (a, b)]
        if None not in ids and ids[0] != ids[1]:
            pairs.add(tuple(ids))
    found = []
    for old, new in sorted(pairs):
        missing = [i for i in (old, new) if engine.inspect(i) is None]
        if missing:
            notes.append(
                f"note: files of image {missing[0][:19]} not compared: the engine lacks it "
                "(`invoke pull REV` brings a result's image)"
            )
            continue
        listing = [file_digests(root, engine, image) for image in (old, new)]
        found += [Cause("image", f"/{path} {verb}") for path, verb in _file_changes(*listing)]
    return found


def _stages(result: Side) -> set[str]:
    return set(result.record.stages) if result.record else set()


def _file_changes(old: dict[str, str], new: dict[str, str]):
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            yield path, "removed"
        elif path not in old:
            yield path, "added"
        elif old[path] != new[path]:
            yield path, "changed"


def file_digests(root: Path, engine: Engine, image_id: str) -> dict[str, str]:
    """Every file in an image, by path: its content's sha256 and mode (no timestamps).

    Read from `docker export` of a container never started, so nothing runs in the image.
    Kept by image id under `.lockstep/`: an id names the layers, so the listing never changes.
    """
    cached = root / paths.IMAGE_FILES / f"{image_id.removeprefix('sha256:')}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    container = engine.output("create", image_id)
    try:
        found = engine.read_from("export", container, consume=_digests)
    finally:
        engine.run("rm", "--force", container, capture=True, quiet=True, check=False)
    atomic_write(cached, json.dumps(found, sort_keys=True).encode())
    return found


def _digests(stream: IO[bytes]) -> dict[str, str]:
    found = {}
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if member.isdir() or name in ENGINE_FILES:
                continue
            if member.isfile():
                digest = hashlib.file_digest(archive.extractfile(member), "sha256").hexdigest()
            else:
                digest = f"link:{member.linkname}"
            found[name] = f"{digest} {member.mode:o}"
    return found


def metric_changes(root: Path, a: Side, b: Side) -> list[str]:
    """`file:key old -> new` for each metric whose value differs."""
    values = [read_metrics(root, s.commit or None) for s in (a, b)]
    found = []
    for path in sorted(values[0].keys() | values[1].keys()):
        old, new = (v.get(path) for v in values)
        if not isinstance(old, dict) or not isinstance(new, dict):
            if old != new:
                found.append(f"{path}: {show(old)} -> {show(new)}")
            continue
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                found.append(f"{path}:{key} {show(old.get(key))} -> {show(new.get(key))}")
    return found
