"""Fixtures for the template tests: a versioned copy of the kit, and a base image pinned in the
session's registry.

The kit copy is a git repository of the working tree (tracked files and untracked ones git does
not ignore, symlinks kept), tagged as a version, as a user's clone of the kit would be. Every
project bootstraps its own `.venv` with its own `./inv`, as a user's would; only the pinned
Poetry install is shared (the kit's own `.lockstep/poetry`, when its pins match), to save time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lockstep import config
from lockstep.engines import Engine
from lockstep.images import builder

from kit.tasks import build_wheel
from tests.support import commands, index, template

MANIFEST = "docker/base/packages.lock"


@pytest.fixture(scope="session")
def project_images(engine: Engine) -> Iterator[list[str]]:
    """Image repositories the tests' projects make; every tag of them is removed at the end."""
    repositories: list[str] = []
    yield repositories
    listed = engine.output("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    stale = [ref for ref in listed if ref.rsplit(":", 1)[0] in repositories]
    if stale:
        engine.run("image", "rm", "--force", *stale, capture=True, check=False)


@pytest.fixture(scope="session")
def kit_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[index.Index]:
    """The kit's wheel, built once, on the tests' own index: projects lock and install it."""
    folder = tmp_path_factory.mktemp("index")
    with index.serve(folder) as served:
        served.add(build_wheel(template.REPO, folder / "built"))
        yield served


@pytest.fixture(scope="session")
def kit_source(kit, kit_index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository of the kit's working tree, tagged KIT_VERSION.

    Its base manifest is the session's (see `Kit.settle_base`), as a user's clone would have
    after its first build, so the projects made from it find their base in the engine.
    """
    root = tmp_path_factory.mktemp("kit") / "lockstep"
    template.copy_working_tree(template.REPO, root)
    shutil.copyfile(kit.snapshot() / MANIFEST, root / MANIFEST)
    commands.git(root, "init", "--quiet")
    commands.commit_all(root, "the kit", template.KIT_VERSION)
    return root


@pytest.fixture(scope="session")
def pinned_base(kit, registry, engine: Engine) -> Iterator[str]:
    """The kit's own base image, pushed to the registry: `host:port/lockstep-base@sha256:...`."""
    image_id = builder.resolve_base(config.load(kit.snapshot()), engine).id
    repository = f"{registry.address}/lockstep-base"
    engine.run("tag", image_id, f"{repository}:pinned", capture=True)
    engine.run("push", f"{repository}:pinned", capture=True)
    digests = (engine.inspect(image_id) or {}).get("RepoDigests") or []
    pinned = next(digest for digest in digests if digest.startswith(repository + "@"))
    yield pinned
    # Untag only: the base image itself stays, under its own lockstep-base tag.
    engine.run("image", "rm", f"{repository}:pinned", pinned, capture=True, check=False)
