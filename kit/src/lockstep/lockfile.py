"""Re-lock poetry.lock through the package index pip is configured with.

Poetry reads its default index through a per-version JSON API, and ignores pip's configuration.
Behind a mirror or proxy that serves only the simple index pip reads (common in companies),
`poetry lock` fails with "Package X not found" where `pip install` works. So the kit locks in a
temporary copy of pyproject.toml that declares pip's index as Poetry's primary source, and pip's
extra indexes (`extra-index-url`: a company's own packages, the kit's tests' index of the kit)
as supplemental ones, then writes back an ordinary lock for the unchanged pyproject.toml: no
source entries, and the content-hash Poetry itself computes for it. The committed files name no
index, and install anywhere: every file's hash is locked, whichever index served it.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

if not __package__:
    # Run as a script by `./inv lock` with Poetry's own Python (tomlkit is one of Poetry's
    # dependencies), while the project's environment is missing or its lock stale.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import tomlkit
from lockstep import config, shell
from lockstep.errors import LockstepError
from lockstep.files import atomic_write
from lockstep.shell import say

# pip's configured indexes and Poetry's content hash are reachable only through their internals.
# Both run in the pinned Poetry's own environment, whose pip and Poetry versions are pinned
# with it (docker/toolchain/poetry.txt).
PIP_INDEX = """\
from pip._internal.configuration import Configuration
from pip._internal.models.index import PyPI
configuration = Configuration(isolated=False)
configuration.load()
values = dict(configuration.items())
def first(name, default):
    keys = (f":env:.{name}", f"install.{name}", f"global.{name}")
    return next((values[key] for key in keys if key in values), default)
print(first("index-url", PyPI.simple_url))
print(first("extra-index-url", ""))
"""
CONTENT_HASH = """\
import sys
from poetry.factory import Factory
print(Factory().create_poetry(sys.argv[1]).locker._get_content_hash())
"""
SOURCE = "pip-index"


def lock(poetry: Path, root: Path) -> None:
    """Write `root`'s poetry.lock for its pyproject.toml, keeping locked versions that still fit.

    Raises:
        CommandError: Poetry cannot resolve the dependencies; its message says which.
    """
    python = poetry.parent / "python"
    # Locking needs no project environment: without this, Poetry makes a virtualenv per
    # temporary folder in the user's cache.
    env = {"POETRY_VIRTUALENVS_CREATE": "false"}
    if bundle := config.ca_bundle():
        env["REQUESTS_CA_BUNDLE"] = str(bundle)
    index, extras = shell.output([python, "-c", PIP_INDEX], cwd=root, env=env).splitlines()
    document = tomlkit.parse((root / "pyproject.toml").read_text())
    sources = document.setdefault("tool", {}).setdefault("poetry", {}).setdefault("source", [])
    sources.append({"name": SOURCE, "url": index, "priority": "primary"})
    # Poetry reads indexes over HTTP: a folder pip reads as an index (file://) is pip's alone.
    served = [url for url in extras.split() if url.startswith(("http://", "https://"))]
    for url in served:
        # Named by its address: Poetry caches what an index serves by the source's name.
        name = f"{SOURCE}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        sources.append({"name": name, "url": url, "priority": "supplemental"})
    with tempfile.TemporaryDirectory(prefix="lockstep-lock-") as tmp:
        work = Path(tmp)
        (work / "pyproject.toml").write_text(tomlkit.dumps(document))
        if (root / "poetry.lock").is_file():
            shutil.copyfile(root / "poetry.lock", work / "poetry.lock")
        say("locking the dependencies with Poetry, through pip's package index")
        shell.run([poetry, "lock", "--directory", work], cwd=root, env=env, tee=True, show=True)
        locked = tomlkit.parse((work / "poetry.lock").read_text())
    for package in locked["package"]:
        package.pop("source", None)
    content_hash = shell.output([python, "-c", CONTENT_HASH, root], cwd=root, env=env).strip()
    locked["metadata"]["content-hash"] = content_hash
    atomic_write(root / "poetry.lock", tomlkit.dumps(locked).encode())


if __name__ == "__main__":
    try:
        lock(Path(sys.argv[1]), Path(sys.argv[2]))
    except LockstepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
