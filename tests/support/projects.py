"""Copies of the project for the integration tests, and what they need to work on them.

`Kit` takes the project's files once per session (a snapshot, with its base image settled as a
user's first build would) and makes committed copies of it, each its own git repository; it
runs the real CLI on them, and cleans up the containers and tags they leave.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lockstep import config, engines, paths, shell, tools
from lockstep.engines import Engine
from lockstep.images import builder, debs, manifest

from tests.support import commands, machines, template

REPO = Path(__file__).resolve().parents[2]
# Not resolved: the venv's bin/python is a symlink, and the venv is what we want on PATH.
BIN = Path(sys.executable).parent


def out_hashes(project: Path) -> dict[str, str]:
    """Every stage output's md5, by path, from dvc.lock."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]}


def declared_outputs(root: Path) -> frozenset[str]:
    """Every output the pipeline declares in dvc.yaml: each stage's outs, metrics and plots."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    found = set()
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for item in stage.get(kind, []):
                found.add(next(iter(item)) if isinstance(item, dict) else item)
    return frozenset(found)


class Kit:
    """The engine plus the helpers the integration tests share."""

    repo = REPO
    bin = BIN
    invoke_cli = BIN / "invoke"
    dvc_cli = BIN / "dvc"
    rows_per_month = 300
    # Every output the pipeline declares, as dvc.yaml declares them.
    outputs = declared_outputs(REPO)

    def __init__(self, engine: Engine, tmp: pytest.TempPathFactory) -> None:
        self.engine = engine
        self.tmp = tmp
        self.copies: list[Path] = []
        self._snapshot: Path | None = None
        self._reproduced: Path | None = None
        # Folders made outside pytest's temporary area, removed when the session ends.
        self.scratch: list[Path] = []

    # docker and git ---------------------------------------------------------------------

    def docker(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the kit's docker CLI with BuildKit, capturing its output."""
        proc = subprocess.run(
            [self.engine.cli, *args],
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **engines.BUILDKIT_ENV},
            check=False,
        )
        if check:
            assert proc.returncode == 0, f"docker {' '.join(args)} failed:\n{proc.stderr}"
        return proc

    def image_id(self, ref: str) -> str:
        """`docker image inspect --format '{{.Id}}' REF`."""
        return self.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def remove_images(self, *refs: str) -> None:
        """Remove image references a test made (an image goes with its last tag)."""
        refs = tuple(ref for ref in refs if ref)
        if refs:
            self.docker("image", "rm", *refs, check=False)

    def git(self, root: Path, *args: str) -> str:
        return commands.git(root, *args)

    # project copies ---------------------------------------------------------------------

    def snapshot(self) -> Path:
        """The project's files, taken once per session: the files of a clone plus untracked
        files not ignored. Every copy starts from it, so edits made to the repository while the
        tests run cannot make two copies differ."""
        if self._snapshot is None:
            tools.ensure_poetry(REPO)  # the pinned Poetry the copies share
            root = self.tmp.mktemp("snapshot")
            listed = commands.git(REPO, "ls-files", "-z")
            listed += commands.git(REPO, "ls-files", "--others", "--exclude-standard", "-z")
            for relative in sorted({name for name in listed.split("\0") if name}):
                source = REPO / relative
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_symlink():
                    # The template links to the kit's own files: keep the links, as git does.
                    target.symlink_to(os.readlink(source))
                elif source.is_file():
                    shutil.copy2(source, target)
                # anything else was deleted in the working tree
            self.settle_base(root)
            self._snapshot = root
        return self._snapshot

    def settle_base(self, root: Path) -> None:
        """Put the snapshot's base image in the engine, as a user's first `./inv build` does.

        On a machine where the committed base is out of reach (no archive, and Debian has
        published updates since), this rebuilds it from the live mirror and rewrites the
        snapshot's packages.lock, so that every copy then finds the same base in the engine.
        The `.deb` files stay in the snapshot (copies leave them out) for the base tests.
        """
        # One worker settles it; the others wait, then find it in the engine.
        with machines.host_lock("images"):
            builder.resolve_base(config.load(root), self.engine)

    def debs(self) -> Path:
        """A folder of the session base's `.deb` files (tools in `tools/`), fetched at most once."""
        folder = self.snapshot() / debs.FOLDER
        if not folder.is_dir():
            recorded = manifest.read(self.snapshot() / "docker/base/packages.lock")
            source = REPO / debs.FOLDER
            if recorded and source.is_dir() and debs.versions(source) == dict(recorded.packages):
                shutil.copytree(source, folder)  # this checkout already holds them
            else:
                cfg = config.load(self.snapshot()).base
                debs.download(
                    cfg.suite,
                    folder,
                    include=sorted(cfg.packages),
                    tools=debs.TOOLS,
                    mirrors=cfg.mirrors,
                    epoch=cfg.epoch,
                    unshare=os.geteuid() != 0,
                )
        return folder

    def copy(self, name: str, *, dest: Path | None = None, shared_poetry: bool = True) -> Path:
        """A committed copy of the project with a small extract, in its own git repository.

        All copies have the same image inputs (Dockerfile, lock, pyproject.toml, src), so they
        share one image, built once.
        """
        root = dest or self.tmp.mktemp(name)
        shutil.copytree(
            self.snapshot(),
            root,
            symlinks=True,
            dirs_exist_ok=True,
            # The snapshot's .deb files are the base tests' fixture, not part of a clone.
            ignore=lambda folder, names: ["debs"] if folder.endswith("docker/base") else [],
        )
        params = root / "params.yaml"
        text, count = re.subn(
            r"(?m)^(\s*rows_per_month:\s*)\d+", rf"\g<1>{self.rows_per_month}", params.read_text()
        )
        assert count == 1, "params.yaml has no ingest.rows_per_month"
        params.write_text(text)
        commands.git(root, "init", "--quiet")
        # Named by its folder: two copies committed in the same second by parallel workers
        # would otherwise be one commit, and one's cleanup would remove the other's tags.
        commands.commit_all(root, f"copy of the project for a test: {root}")
        if shared_poetry:
            # Builds check the lock with the project's pinned Poetry: one install for all
            # copies (a copy for another user installs its own).
            template.share_poetry(root)
        self.copies.append(root)
        return root

    def reproduced(self, name: str) -> Path:
        """A copy whose pipeline ran in the image, its results committed.

        The pipeline runs once per worker; each caller gets a copy of that copy (its git
        history, DVC cache and state), for tests that start from committed results.
        """
        if self._reproduced is None:
            root = self.copy("reproduced")
            self.invoke(root, "repro")
            commands.commit_all(root, "results")
            self._reproduced = root
        root = self.tmp.mktemp(name)
        shutil.copytree(self._reproduced, root, symlinks=True, dirs_exist_ok=True)
        self.copies.append(root)
        return root

    def archive_debs(self, root: Path) -> None:
        """Put the base's `.deb` files in a copy's DVC cache, as on the machine that built the
        base (copies leave them out): `publish` and `pull` then find every file DVC tracks."""
        shutil.copytree(self.debs(), root / debs.FOLDER)
        self.dvc(root, "add", "--quiet", debs.FOLDER)

    @staticmethod
    def change_source(root: Path, token: str) -> None:
        """A harmless source change, and image inputs that differ from any other copy's.

        The images hold no source, so a variable in the Dockerfile's base stage gives the copy
        an image id of its own (one a test may retag or remove).
        """
        path = root / "src" / "credit_model" / "__init__.py"
        path.write_text(path.read_text() + f"# integration test build {token}\n")
        dockerfile = root / "docker" / "Dockerfile"
        marker = "WORKDIR /workspace\n"
        text = dockerfile.read_text()
        assert marker in text, "docker/Dockerfile's base stage has no WORKDIR /workspace"
        dockerfile.write_text(text.replace(marker, f"ENV LOCKSTEP_TEST_BUILD={token}\n{marker}", 1))

    # the CLI ----------------------------------------------------------------------------

    def env(self, project: Path, **extra: str) -> dict[str, str]:
        """Environment for the real CLI on a copy: the venv's tools, the copy's own code."""
        return {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(project / "src"),
            "DVC_NO_ANALYTICS": "1",
            # Every command the kit ran on the terminal too: the tests read them there (the
            # default output has tests of its own, in tests/unit/lockstep/test_shell.py).
            shell.VERBOSE_VARIABLE: "1",
            **extra,
        }

    def invoke(
        self,
        project: Path,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`invoke -r PROJECT ARGS`, as a user would run it (with `env` added)."""
        cmd = [self.invoke_cli, "-r", project, *args]
        env = self.env(project, **(env or {}))
        return commands.run(cmd, env=env, check=check, timeout=timeout)

    def dvc(self, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the host's DVC (the locked version) in a copy."""
        return commands.run([self.dvc_cli, *args], project, env=self.env(project), timeout=300)

    out_hashes = staticmethod(lambda project: out_hashes(project))

    def run_containers(self, project: Path | None = None) -> list[str]:
        """Ids of the kit's run containers, in any state; only those mounting PROJECT if given."""
        ids = self.docker(
            "ps", "--all", "--quiet", "--no-trunc", "--filter", "name=lockstep-run-"
        ).stdout.split()
        if project is None:
            return ids
        found = []
        for cid in ids:
            mounts = self.docker(
                "inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}", cid, check=False
            ).stdout.split()
            if str(project) in mounts:
                found.append(cid)
        return found

    def cleanup(self) -> None:
        """Remove leftover containers on the copies and the `git-<sha>` tags the copies added."""
        shas = set()
        for root in self.copies:
            for cid in self.run_containers(root):
                self.docker("rm", "--force", cid, check=False)
            if (root / ".git").is_dir():
                shas.add(commands.git(root, "rev-parse", "HEAD").strip()[:12])
        tags = self.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        stale = [
            tag
            for tag in tags
            if (match := re.search(r":git-([0-9a-f]{12})", tag)) and match.group(1) in shas
        ]
        self.remove_images(*stale)
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)


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


def set_image(root: Path, name: str) -> None:
    """Set `image` in the project's [tool.lockstep]: tags of the copy's own on the same image
    (the name is in no layer), cheaper than a change that builds another (`Kit.change_source`)."""
    path = root / "pyproject.toml"
    text, count = re.subn(r'(?m)^image = "[^"]*"$', f'image = "{name}"', path.read_text())
    assert count == 1, "pyproject.toml has no single image setting"
    path.write_text(text)


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file in a checkout: .git and the machine-local state of the kit (the
    workspace lock file, which every writer opens) and of DVC (its cache and tmp) excepted."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        local = relative.parts[0] in (".git", paths.STATE) or relative.parts[:2] in (
            (".dvc", "cache"),
            (".dvc", "tmp"),
        )
        if not local and path.is_file() and not path.is_symlink():
            hashes[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def checkout_state(root: Path) -> dict:
    """What a rerun must not change: HEAD, branch, status and every workspace file's hash."""
    return {
        "head": commands.git(root, "rev-parse", "HEAD"),
        "branch": commands.git(root, "symbolic-ref", "HEAD"),
        "status": commands.git(root, "status", "--porcelain", "--untracked-files=all"),
        "files": file_hashes(root),
    }


def remove_images_built_at(kit, sha: str) -> None:
    """Remove every image built at a commit of a copy, whatever its other tags.

    Found by the commit tag a build gives (`IMAGE:git-<sha12>`, `-dirty-<content>` too); only
    for copies whose images are their own (`Kit.change_source`, or settings of their own), which
    no other test shares.
    """
    listed = kit.docker("image", "ls", "--no-trunc", "--format", "{{.Tag}} {{.ID}}").stdout
    rows = (line.split() for line in listed.splitlines())
    ids = [image_id for tag, image_id in rows if tag.startswith(f"git-{sha[:12]}")]
    for image_id in dict.fromkeys(ids):
        kit.docker("image", "rm", "--force", image_id, check=False)
