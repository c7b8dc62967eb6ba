"""The locked distributions, each installed once into a file tree the kit keeps.

A distribution's tree is what installing it (hash-checked, no dependencies) adds to /opt/venv,
bytecode included, kept in the user's cache by a key of everything that shapes those files:
the exported requirement with its hashes, the image it is installed in, and the install
scripts. A lock bump installs the one distribution that changed; every other tree is reused, and
so is every layer made only of reused trees (`lockstep.images.layers`).

Installing happens in a container of the Dockerfile's `export` stage (uv is there) running
docker/toolchain/install-packages.sh, which copies the new files into a folder of the kit's,
mounted, and hands them to the user. The kit reads each distribution's RECORD (with
importlib.metadata, the standard reader) to say which files are whose; bytecode, which no
RECORD lists, goes with the source file it compiles.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lockstep import engines, files
from lockstep.engines import Engine
from lockstep.errors import BuildError, CommandError
from lockstep.images.variations import CPUS_VARIABLE
from lockstep.shell import say
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as Parsed
from packaging.utils import canonicalize_name

INSTALL_SCRIPT = "docker/toolchain/install-packages.sh"
COMPILE_SCRIPT = "docker/toolchain/compile-bytecode.sh"
# The pinned uv that installs (the `export` stage's).
UV_REQUIREMENTS = "docker/toolchain/uv.txt"
# What the trees hold is relative to this folder of the image.
VENV = "opt/venv"
# uv's download cache, kept by the engine between builds (like BuildKit's cache mounts); the
# variable names another volume (the benchmarks' cold builds start from an empty one).
UV_CACHE_VOLUME = "lockstep-uv-cache"
UV_CACHE_ENV = "LOCKSTEP_UV_CACHE_VOLUME"
# uv's variables that say where distributions come from, passed on to the installing container.
UV_INDEX_SETTINGS = ("UV_DEFAULT_INDEX", "UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL")
# Bump when the way trees are made changes, so no tree made the old way is reused.
FORMAT_VERSION = 1
# `poetry export` writes one entry per distribution: `name==version ; markers \` and then
# indented `--hash=...` lines. An entry starts at a line that does not start with a space.
_ENTRY_START = re.compile(r"\n(?=\S)")


@dataclass(frozen=True)
class Requirement:
    """One exported requirement: its distribution, version and the entry itself (hashes too)."""

    name: str
    version: str
    entry: str


@dataclass(frozen=True)
class Package:
    """An installed distribution's files, in the cache.

    Attributes:
        name: its canonical name, e.g. "scikit-learn".
        version: e.g. "1.9.1".
        key: the cache key of its tree.
        files: the tree: `files/opt/venv/...` as in the image.
        size: bytes of its files.
    """

    name: str
    version: str
    key: str
    files: Path
    size: int

    def paths(self) -> dict[str, Path]:
        """Each file's path in the image (no leading slash) and on disk."""
        found = {}
        for folder, _, names in os.walk(self.files):
            for name in names:
                path = Path(folder, name)
                found[path.relative_to(self.files).as_posix()] = path
        return found


def cache_root() -> Path:
    """The user's cache for the kit (XDG_CACHE_HOME, else ~/.cache): shared by all projects."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lockstep"


def parse(exported: str) -> list[Requirement]:
    """The entries of a `poetry export` requirements file, one per distribution.

    packaging parses each entry's requirement; the split into entries is by the layout Poetry
    writes (pip's own parser would lose the entry's text, which is the tree's key).

    Raises:
        BuildError: an entry is not `name==version`.
    """
    found = []
    for entry in _ENTRY_START.split(exported.strip()):
        if not entry or entry.startswith("#"):
            continue
        head = entry.split("\\", 1)[0].strip()
        try:
            parsed = Parsed(head)
            (spec,) = parsed.specifier
            if spec.operator != "==" or "*" in spec.version:
                raise ValueError(spec)
        except (InvalidRequirement, ValueError):
            raise BuildError(
                f"exported requirement {head!r} does not pin one version",
                "re-lock (`./inv lock`): every locked distribution has an exact version",
            ) from None
        found.append(Requirement(canonicalize_name(parsed.name), spec.version, entry.strip()))
    return found


def salt(root: Path, image: str) -> str:
    """What every tree's key shares: the image installed in, the installer and its scripts."""
    hasher = hashlib.sha256(f"{FORMAT_VERSION}\0{image}\0".encode())
    for script in (INSTALL_SCRIPT, COMPILE_SCRIPT, UV_REQUIREMENTS):
        hasher.update((root / script).read_bytes())
    return hasher.hexdigest()


def key(requirement: Requirement, salt_: str) -> str:
    """The cache key of one distribution's tree."""
    return hashlib.sha256(f"{salt_}\0{requirement.entry}".encode()).hexdigest()


def cached(cache: Path, requirement: Requirement, salt_: str) -> Package | None:
    """The distribution's tree, when an earlier build made it."""
    folder = cache / "packages" / key(requirement, salt_)
    try:
        meta = json.loads((folder / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return Package(meta["name"], meta["version"], folder.name, folder / "files", meta["size"])


def install(
    root: Path,
    engine: Engine,
    image: str,
    requirements: list[Requirement],
    salt_: str,
    *,
    cache: Path,
    ca_bundle: Path | None,
    uv_cache: str = "",
) -> list[Package]:
    """Install `requirements` in a container of `image` and keep each one's tree in `cache`.

    Raises:
        BuildError: the install failed, or left a file no distribution owns.
    """
    names = ", ".join(f"{r.name} {r.version}" for r in requirements[:5])
    more = f" and {len(requirements) - 5} more" if len(requirements) > 5 else ""
    say(f"packages: installing {len(requirements)} ({names}{more})")
    work = cache / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    (cache / "packages").mkdir(exist_ok=True)
    root = root.resolve()  # docker takes a relative path for a volume's name
    # A tree is kept only once whole (`_keep`); the rest of the install is a temp folder. The
    # container writes into the engine's data root too (its own files, uv's download cache).
    where = f"{cache} or the Docker engine's data root"
    doing = "installing distributions into the kit's cache"
    with files.space_for(doing, where), tempfile.TemporaryDirectory(dir=work) as tmp:
        listing = Path(tmp) / "requirements.txt"
        listing.write_text("".join(r.entry + "\n" for r in requirements))
        installed = Path(tmp) / "venv"
        installed.mkdir()
        mounts = [
            f"{installed}:/opt/lockstep/out",
            f"{root / INSTALL_SCRIPT}:/opt/lockstep/install-packages:ro",
            f"{root / COMPILE_SCRIPT}:/opt/lockstep/compile-bytecode:ro",
            f"{listing}:/opt/lockstep/requirements.txt:ro",
            f"{uv_cache or os.environ.get(UV_CACHE_ENV) or UV_CACHE_VOLUME}:/root/.cache/uv",
        ]
        if ca_bundle:
            # Mounted for the download only: the image never holds it, and neither do the
            # trees (only files under /opt/venv are kept).
            mounts.append(f"{ca_bundle}:/run/secrets/ca:ro")
        # The host's network, and uv's index settings: the distributions download as they do
        # on the host (a proxy, a mirror on loopback, a company's extra index).
        cmd = ["run", "--rm", "--user", "0", "--network", "host"]
        if os.environ.get(CPUS_VARIABLE):
            # `invoke challenge` installs on one CPU: a tree must not depend on the workers.
            cmd += ["--cpuset-cpus", os.environ[CPUS_VARIABLE]]
        for name in UV_INDEX_SETTINGS:
            if name in os.environ:
                cmd += ["--env", f"{name}={os.environ[name]}"]
        for mount in mounts:
            cmd += ["--volume", mount]
        cmd += [image, "sh", "/opt/lockstep/install-packages", "/opt/lockstep/requirements.txt"]
        cmd += ["/opt/lockstep/out", f"{os.getuid()}:{os.getgid()}"]
        try:
            engine.run(*cmd)
        except CommandError as exc:
            raise BuildError(
                f"installing {names}{more} failed: {exc.message}",
                "read the lines above: a version the package index no longer has cannot be "
                "installed; a network error often means a missing CA bundle "
                "(set PIP_CERT or ca_bundle in [tool.lockstep])",
            ) from None
        owners = _owners(installed)
        return [_keep(cache, installed, r, owners.get(r.name, []), salt_) for r in requirements]


def _owners(venv: Path) -> dict[str, list[str]]:
    """Each distribution's files in `venv`, as paths relative to it; every file has one owner."""
    site = next(venv.glob("lib/python3*/site-packages"), None)
    owner: dict[str, str] = {}
    if site is not None:
        for dist in importlib.metadata.distributions(path=[str(site)]):
            name = canonicalize_name(dist.metadata["Name"])
            for listed in dist.files or []:
                path = os.path.normpath(site / listed)
                owner[os.path.relpath(path, venv)] = name
    files: dict[str, list[str]] = {}
    for folder, _, names in os.walk(venv):
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), venv)
            found = owner.get(relative) or owner.get(_source_of(relative))
            if found is None:
                raise BuildError(
                    f"the install left /{VENV}/{relative}, which no distribution's RECORD lists",
                    "report this with the package that made it; the kit keeps only files it "
                    "can attribute, so that each layer holds exactly its distributions",
                )
            files.setdefault(found, []).append(relative)
    return files


def _source_of(path: str) -> str:
    """The source file a bytecode file compiles: `a/__pycache__/b.cpython-311.pyc` -> `a/b.py`."""
    folder, name = os.path.split(path)
    if os.path.basename(folder) != "__pycache__" or not name.endswith(".pyc"):
        return ""
    return os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")


def _keep(cache: Path, venv: Path, requirement: Requirement, owned: list[str], salt_) -> Package:
    """Move one distribution's files from the install into its cache folder; return it."""
    folder = cache / "packages" / key(requirement, salt_)
    partial = Path(tempfile.mkdtemp(dir=cache / "tmp"))
    size = 0
    try:
        for relative in owned:
            dest = partial / "files" / VENV / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(venv / relative, dest)
            size += dest.lstat().st_size
        (partial / "files").mkdir(exist_ok=True)
        meta = {"name": requirement.name, "version": requirement.version, "size": size}
        (partial / "package.json").write_text(json.dumps(meta, sort_keys=True))
    except BaseException:
        shutil.rmtree(partial)  # a full disk: nothing of it is kept
        raise
    try:
        os.rename(partial, folder)
    except OSError:
        shutil.rmtree(partial)  # another build kept the same tree first
    return Package(requirement.name, requirement.version, folder.name, folder / "files", size)


@contextlib.contextmanager
def fresh_uv_cache(engine: Engine) -> Iterator[str]:
    """A new, empty uv cache volume, removed afterwards (`invoke build --check`).

    Its name is this check's own (`engines.own_name`): a process id is not unique on an engine
    that two machines share.
    """
    name = engines.own_name(f"{UV_CACHE_VOLUME}-check")
    try:
        yield name
    finally:
        engine.run("volume", "rm", "--force", name, capture=True, quiet=True, check=False)
