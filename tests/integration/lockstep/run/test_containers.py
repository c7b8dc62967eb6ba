"""`run.containers.Run`: runs as the caller, mounts the CA bundle read-only, leaves nothing, and
clears only its own workspace's leftovers."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest
from lockstep.errors import WorkspaceBusyError
from lockstep.run import containers
from lockstep.run.containers import Run

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def workspace(kit):
    return kit.copy("run")


def test_a_run_writes_as_the_caller_and_removes_its_container(
    kit, settings, workspace, runtime_image
) -> None:
    run = Run(
        dataclasses.replace(settings, root=workspace),
        kit.engine,
        runtime_image.id,
        ["sh", "-c", "{ id -u; id -g; pwd; } > written-by-run"],
    )
    assert run.name.startswith(containers.CONTAINER_PREFIX)

    assert run.start() == 0

    written_by_run = (workspace / "written-by-run").read_text().split()
    assert written_by_run == [str(os.getuid()), str(os.getgid()), settings.workdir]
    written = (workspace / "written-by-run").stat()
    assert (written.st_uid, written.st_gid) == (os.getuid(), os.getgid())
    assert kit.docker("ps", "--all", "--quiet", "--filter", f"name={run.name}").stdout == ""


def test_a_run_sees_the_ca_bundle_read_only(kit, settings, runtime_image) -> None:
    bundle = settings.ca_bundle_path()
    assert bundle is not None, "set PIP_CERT (or SSL_CERT_FILE) to the host's CA bundle"
    script = 'sha256sum "$PIP_CERT" "$SSL_CERT_FILE"; if [ -w "$PIP_CERT" ]; then echo writable; fi'
    run = Run(settings, kit.engine, runtime_image.id, ["sh", "-c", script])

    printed = run.captured()

    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert printed.split() == [digest, containers.CA_TARGET, digest, containers.CA_TARGET]


def test_a_failing_command_gives_its_exit_code(kit, settings, runtime_image) -> None:
    run = Run(settings, kit.engine, runtime_image.id, ["sh", "-c", "exit 7"])
    assert run.start() == 7
    assert kit.docker("ps", "--all", "--quiet", "--filter", f"name={run.name}").stdout == ""


def test_a_run_follows_relative_links_and_links_into_a_mounted_cache(
    kit, settings, runtime_image, tmp_path
) -> None:
    # What `run.view` lets through, and what it refuses: the workspace is seen at the workdir.
    root, cache = tmp_path / "workspace", tmp_path / "cache"
    (root / "store").mkdir(parents=True)
    (root / "store" / "a").write_text("inside\n")
    cache.mkdir()
    (cache / "b").write_text("cached\n")
    (root / "relative").symlink_to("store")
    (root / "absolute").symlink_to(root / "store")
    (root / "cached").symlink_to(cache / "b")
    script = "cat relative/a cached; test -e absolute/a || echo absolute: nowhere"
    run = Run(dataclasses.replace(settings, root=root), kit.engine, runtime_image.id, ["sh"])

    printed = run.with_command("sh", "-c", script).with_volume(str(cache)).captured()

    assert printed.split("\n") == ["inside", "cached", "absolute: nowhere"]


def test_a_run_clears_only_its_own_workspaces_leftovers(
    kit, settings, runtime_image, tmp_path
) -> None:
    """Two clones of one project (one image, folders of one name) on one engine: a run in one
    removes its own killed run's container and never touches the other's running one."""
    one, two = (
        dataclasses.replace(settings, root=tmp_path / where / "project") for where in ("a", "b")
    )
    for clone in (one, two):
        clone.root.mkdir(parents=True)
    running = Run(one, kit.engine, runtime_image.id, ["sleep", "600"])
    left = Run(two, kit.engine, runtime_image.id, ["sleep", "600"])
    # As `start` would, with the real names and labels: one at work, one a killed run left.
    kit.engine.run("run", "--detach", *running.arguments()[1:], capture=True)
    kit.engine.run("create", *left.arguments()[1:], capture=True)
    state = "{{.State.Status}}"
    try:
        containers.clear_leftovers(two, kit.engine)

        assert kit.docker("inspect", "--format", state, running.name).stdout.strip() == "running"
        assert kit.docker("ps", "--all", "--quiet", "--filter", f"name={left.name}").stdout == ""
        with pytest.raises(WorkspaceBusyError, match=f"the container {running.name} of an"):
            containers.clear_leftovers(one, kit.engine)
    finally:
        running.stop()
        left.stop()
