"""Fixtures for the rerun and registry tests: a real registry server, and a project history.

The registry is Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 at a free port; the
Docker engine treats 127.0.0.0/8 registries as insecure-allowed, so plain http works. The
history is a copy of the project with two revisions: `model/a` (repro, then push) and `model/b`
(other params, repro) on top, checked out on its branch. Both are made once per session and
shared by test_rerun.py and test_registry.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from lockstep import lineage

REGISTRY_BIN = "docker-registry"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
A, B = "model/a", "model/b"
START = "start"  # the first commit: no lineage yet
IMAGE = "credit-model"


def free_port() -> int:
    """A TCP port nothing listens on right now (and, closed at once, nothing will soon)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Registry:
    """A registry server on 127.0.0.1, storing its blobs in a folder of its own."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, as the `registry` setting names it."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Registry:
        """Start the server and wait until `GET /v2/` answers; returns self."""
        binary = shutil.which(REGISTRY_BIN) or f"/usr/bin/{REGISTRY_BIN}"
        if not Path(binary).is_file():
            pytest.fail(
                f"the registry tests need {REGISTRY_BIN} (Debian: apt-get install docker-registry)",
                pytrace=False,
            )
        config = self.folder / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.folder / 'data'}\n"
            f"http:\n  addr: {self.address}\n"
        )
        log = open(self.folder / "registry.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.get("/v2/")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(
            f"{REGISTRY_BIN} did not answer on {self.address}:\n{self.log()}", pytrace=False
        )

    def stop(self) -> None:
        """Stop the server."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.folder / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def get(self, path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of `GET http://ADDRESS/PATH`."""
        request = urllib.request.Request(f"http://{self.address}{path}")
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def tags(self, name: str) -> list[str]:
        status, _, body = self.get(f"/v2/{name}/tags/list")
        assert status == 200, body
        return json.loads(body)["tags"] or []

    def manifest(self, name: str, reference: str) -> tuple[str, dict]:
        """(manifest digest, manifest) of a tag or digest in a repository."""
        status, headers, body = self.get(f"/v2/{name}/manifests/{reference}", MANIFEST_TYPES)
        assert status == 200, body
        return headers["Docker-Content-Digest"], json.loads(body)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry on 127.0.0.1 at a free port, for the whole session."""
    folder = tmp_path_factory.mktemp("registry")
    server = Registry(folder).start()
    yield server
    server.stop()
    shutil.rmtree(folder / "data", ignore_errors=True)


# project helpers -------------------------------------------------------------------------------


def set_param(root: Path, key: str, value: str) -> None:
    """Set one `key: value` line of params.yaml (keys are unique across sections here)."""
    path = root / "params.yaml"
    text, count = re.subn(rf"(?m)^(\s+{key}:\s*)[^\s#]+", rf"\g<1>{value}", path.read_text())
    assert count == 1, f"params.yaml has no single {key}"
    path.write_text(text)


def set_registry(root: Path, address: str) -> None:
    """Set `registry` in the project's [tool.lockstep]."""
    path = root / "pyproject.toml"
    text, count = re.subn(
        r"(?m)^\[tool\.lockstep\]\n", f'[tool.lockstep]\nregistry = "{address}"\n', path.read_text()
    )
    assert count == 1, "pyproject.toml has no [tool.lockstep]"
    path.write_text(text)


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file in a checkout, .git excepted."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] != ".git" and path.is_file() and not path.is_symlink():
            hashes[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def git_output(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return proc.stdout


def checkout_state(root: Path) -> dict:
    """What a rerun must not change: HEAD, branch, status and every workspace file's hash."""
    return {
        "head": git_output(root, "rev-parse", "HEAD"),
        "branch": git_output(root, "symbolic-ref", "HEAD"),
        "status": git_output(root, "status", "--porcelain", "--untracked-files=all"),
        "files": file_hashes(root),
    }


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import this file)."""
    return SimpleNamespace(
        set_param=set_param,
        set_registry=set_registry,
        file_hashes=file_hashes,
        checkout_state=checkout_state,
        free_port=free_port,
        remove_images_built_at=remove_images_built_at,
    )


@dataclass
class History:
    """A project copy with revisions A (pushed) and B (checked out), and their image."""

    kit: object
    root: Path
    registry: Registry
    image_id: str  # the image A ran in (B too: only params changed)
    digest: str  # its manifest digest in the registry, as A's lineage records it
    pushed: list[str]  # the references `invoke push` pushed

    @property
    def repository(self) -> str:
        return f"{self.registry.address}/{IMAGE}"

    def record(self, rev: str) -> dict:
        return json.loads(self.kit.git(self.root, "show", f"{rev}:{lineage.PATH}"))

    def commit_variant(self, tag: str, base: str, edit: Callable[[Path], None]) -> str:
        """Tag a commit made on top of `base` by `edit(tree)`, without touching the checkout.

        Made in a temporary worktree, removed afterwards; reused when the tag exists.
        """
        if self.kit.git(self.root, "tag", "--list", tag).strip():
            return tag
        tree = Path(tempfile.mkdtemp(prefix="lockstep-it-variant-")) / "tree"
        self.kit.git(self.root, "worktree", "add", "--detach", "--quiet", str(tree), base)
        try:
            edit(tree)
            self.kit.git(tree, "commit", "--quiet", "--all", "-m", f"test variant {tag}")
            self.kit.git(tree, "tag", tag)
        finally:
            self.kit.git(self.root, "worktree", "remove", "--force", str(tree))
            shutil.rmtree(tree.parent, ignore_errors=True)
        return tag

    def edit_lineage(self, tag: str, **fields) -> str:
        """A variant of A whose lineage has `fields` set in every stage."""

        def edit(tree: Path) -> None:
            record = json.loads((tree / lineage.PATH).read_text())
            for entry in record["stages"].values():
                entry.update(fields)
            lineage.write(tree / lineage.PATH, record)

        return self.commit_variant(tag, A, edit)

    def ensure_image(self) -> None:
        """Make A's image local again if a test removed it."""
        if self.kit.docker("image", "inspect", self.image_id, check=False).returncode:
            self.kit.invoke(self.root, "pull", A)

    def remove_image(self) -> None:
        """Remove A's image from the engine, whatever tags it has."""
        self.kit.docker("image", "rm", "--force", self.image_id, check=False)
        gone = self.kit.docker("image", "inspect", self.image_id, check=False).returncode
        assert gone, f"{self.image_id} is still in the engine"


def commit(kit, root: Path, message: str) -> None:
    kit.git(root, "add", "--all")
    kit.git(root, "commit", "--quiet", "--no-verify", "-m", message)


def remove_images_built_at(kit, sha: str) -> None:
    """Remove every image built at a commit of a copy (by its label), whatever its tags."""
    ids = kit.docker(
        "image", "ls", "--quiet", "--no-trunc", "--filter", f"label=io.lockstep.commit={sha}"
    ).stdout.split()
    for image_id in dict.fromkeys(ids):
        kit.docker("image", "rm", "--force", image_id, check=False)


@pytest.fixture(scope="session")
def history(kit, registry: Registry) -> Iterator[History]:
    """Revision A (train.max_iter 40): repro, push, commit; revision B (learning rate 0.1)
    on top: repro, commit. The copy's `registry` setting names the session's registry, so its
    image is this session's own (the setting is part of the image's inputs), removed at the end.
    """
    root = kit.copy("history")
    set_registry(root, registry.address)
    set_param(root, "max_iter", "40")  # a quicker fit than the project's
    kit.git(root, "rm", "--quiet", lineage.PATH)
    commit(kit, root, "registry, quick params, no lineage yet")
    kit.git(root, "tag", START)
    try:
        yield make_history(kit, root, registry)
    finally:
        remove_images_built_at(kit, kit.git(root, "rev-parse", START).strip())


def make_history(kit, root: Path, registry: Registry) -> History:
    kit.invoke(root, "repro")
    pushed = re.findall(r"docker push (\S+)", kit.invoke(root, "push").stderr)
    commit(kit, root, "A: results, pushed")
    kit.git(root, "tag", A)

    set_param(root, "learning_rate", "0.1")
    kit.invoke(root, "repro")
    commit(kit, root, "B: other params, results")
    kit.git(root, "tag", B)

    entries = list(json.loads((root / lineage.PATH).read_text())["stages"].values())
    image_ids = {entry["image_id"] for entry in entries}
    assert len(image_ids) == 1, image_ids
    record_a = json.loads(kit.git(root, "show", f"{A}:{lineage.PATH}"))
    digests = {entry["registry_digest"] for entry in record_a["stages"].values()}
    assert len(digests) == 1 and None not in digests, digests
    return History(kit, root, registry, image_ids.pop(), digests.pop(), pushed)
