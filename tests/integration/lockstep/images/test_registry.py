"""`invoke push` and `invoke pull REV` against a real registry (Debian's docker-registry).

Push records the manifest digest in the lineage of every stage the image produced; pull fetches
a revision's image by that digest (when the engine lacks it) and checks its id; an unreachable
registry is one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from lockstep.images import manifest
from lockstep.records import lineage

from tests.support import commands, faults, machines, projects
from tests.support.registry import Registry

pytestmark = pytest.mark.docker

A, B, START = "model/a", "model/b", "start"
IMAGE = "credit-model"


def test_push_records_the_manifest_digest_for_every_stage(history, registry) -> None:
    record = history.record(A)
    assert record["stages"], record
    for name, entry in record["stages"].items():
        assert entry["registry_repository"] == history.repository, name
        assert entry["registry_digest"] == history.digest, name
        assert entry["image_id"] == history.image_id, name

    # Pushed under its content tag and its commit tag, both naming that manifest.
    entry = next(iter(record["stages"].values()))
    ours = [ref for ref in history.pushed if ref.startswith(f"{history.repository}:")]
    tags = [ref.removeprefix(f"{history.repository}:") for ref in ours]
    assert entry["image_tag"].removeprefix(f"{IMAGE}:") in tags
    assert [tag for tag in tags if tag.startswith(f"git-{entry['commit'][:12]}")], tags
    assert set(tags) <= set(registry.tags(IMAGE))
    for tag in tags:
        digest, manifest = registry.manifest(IMAGE, tag)
        assert digest == history.digest, tag
        # The manifest's config is the image: its digest is the image id.
        assert manifest["config"]["digest"] == history.image_id, tag


def test_push_takes_the_offline_base_along(history, registry) -> None:
    recorded = manifest.read(history.root / "docker/base/packages.lock")
    (pushed,) = [ref for ref in history.pushed if "/lockstep-base:" in ref]
    tag = pushed.rsplit(":", 1)[1]
    assert tag in registry.tags("lockstep-base")
    _, pushed_manifest = registry.manifest("lockstep-base", tag)
    assert pushed_manifest["config"]["digest"] == recorded.image


def test_stages_rerun_in_a_pushed_image_keep_its_digest(history) -> None:
    record = history.record(B)
    ran_at = {entry["ran_at"] for entry in record["stages"].values()}
    assert len(ran_at) == 2, "B should have rerun only some stages"
    for name, entry in record["stages"].items():
        assert entry["registry_digest"] == history.digest, name


def test_pull_fetches_a_revisions_image_by_digest(kit, history, empty_engine) -> None:
    proc = kit.invoke(history.root, "pull", B, env=empty_engine.env())

    assert proc.stdout.split() == [history.image_id]
    assert f"pull --quiet {history.repository}@{history.digest}" in proc.stderr
    assert empty_engine.image_id(history.image_id) == history.image_id
    assert empty_engine.image_id(f"{history.repository}@{history.digest}") == history.image_id


def test_push_tags_the_image_after_each_release_that_names_it(
    kit, history, registry, empty_engine
) -> None:
    """`model/a` -> `credit-model:model-a`: a validator pulls the release's image by name
    (on a machine that never had it) and gets the recorded id."""
    proc = kit.invoke(history.root, "push")

    assert f"registry: {history.image_id[:19]} tagged for model-a, model-b" in proc.stderr
    for release in (A, B):
        digest, _ = registry.manifest(IMAGE, release.replace("/", "-"))
        assert digest == history.digest, release
    # Everything was recorded already: the lineage is as committed.
    assert kit.git(history.root, "status", "--porcelain") == ""
    pull = ["/usr/bin/docker", "pull", "--quiet", f"{history.repository}:model-b"]
    commands.run(pull, env=empty_engine.env())
    assert empty_engine.image_id(f"{history.repository}:model-b") == history.image_id


@pytest.mark.parametrize(
    ("make_rev", "expected"),
    [
        pytest.param(
            lambda history, closed: "no-such-revision",
            r"^error: unknown revision 'no-such-revision'",
            id="unknown revision",
        ),
        pytest.param(
            lambda history, closed: START,
            rf"^error: {START} has no lineage: {lineage.PATH} is not there",
            id="no lineage",
        ),
        pytest.param(
            lambda history, closed: history.edit_lineage(
                f"moved/{closed.split(':')[1]}", registry_repository=f"{closed}/{IMAGE}"
            ),
            r"^error: image sha256:\w{12} found nowhere: not in the local engine; registry: "
            r"cannot pull 127\.0\.0\.1:\d+/credit-model@sha256:\w{64}: .*connection refused",
            id="unreachable registry",
        ),
    ],
)
def test_a_failing_pull_says_why_in_one_line(
    kit, history, make_rev, expected, empty_engine
) -> None:
    closed = f"127.0.0.1:{commands.free_port()}"
    rev = make_rev(history, closed)
    before = projects.checkout_state(history.root)

    # On a machine without the image: one that has it needs no registry.
    proc = kit.invoke(history.root, "pull", rev, check=False, env=empty_engine.env())

    assert re.search(expected, commands.one_error(proc)), proc.stderr
    assert projects.checkout_state(history.root) == before


def test_push_to_an_unreachable_registry_fails_in_one_line_and_leaves_no_tag(kit, history) -> None:
    closed = f"127.0.0.1:{commands.free_port()}"
    root = kit.copy("push-unreachable")
    projects.set_registry(root, closed)
    (root / lineage.PATH).write_text(kit.git(history.root, "show", f"{A}:{lineage.PATH}"))
    before = json.loads((root / lineage.PATH).read_text())

    proc = kit.invoke(root, "push", check=False)

    assert commands.one_error(proc).startswith(f"error: cannot push to {closed}/{IMAGE}: ")
    references = kit.docker("image", "ls", "--format", "{{.Repository}}").stdout.split()
    assert not [ref for ref in references if ref.startswith(closed)]
    assert json.loads((root / lineage.PATH).read_text()) == before


def test_push_without_a_registry_setting_says_what_to_set(kit, history) -> None:
    root = kit.copy("no-registry")
    (root / lineage.PATH).write_text(kit.git(history.root, "show", f"{A}:{lineage.PATH}"))

    proc = kit.invoke(root, "push", check=False)

    assert "no registry configured" in commands.one_error(proc)
    assert 'registry = "host:port"' in proc.stderr


@pytest.fixture
def own_registry(registry, tmp_path) -> Iterator[Registry]:
    """A registry of the test's own to kill: the session's, copied by hard links (a registry
    writes a blob under a temporary name and moves it, never into one)."""
    server = Registry(tmp_path)
    commands.run(["cp", "--archive", "--link", registry.folder / "data", tmp_path / "data"])
    yield server.start()
    server.stop()


def test_the_registry_going_away_midway_through_a_pull_by_digest(kit, history, own_registry):
    rev = history.edit_lineage(
        f"outage/{own_registry.port}", registry_repository=f"{own_registry.address}/{IMAGE}"
    )
    before = projects.checkout_state(history.root)
    # One attempt: docker retries a failed layer 4 times, 5 to 20 s apart, before it says so.
    with machines.SecondEngine("--max-download-attempts=1") as engine:
        # Once a layer is coming (a blob is downloaded to the engine's tmp folder): midway.
        landed = lambda: faults.growing(engine.root / "data/tmp", 1_000_000)  # noqa: E731
        with faults.kill_when(landed, own_registry.kill) as killed:
            proc = kit.invoke(history.root, "pull", rev, check=False, env=engine.env())

        assert killed.is_set(), proc.stderr
        error = commands.one_error(proc)
        assert f"registry: the registry {own_registry.address} went away during the pull" in error
        assert error.endswith("only the layers the engine lacks are fetched"), error
        assert engine.image_id(history.image_id) is None  # no image of the layers that came
        assert projects.checkout_state(history.root) == before

        own_registry.start()
        proc = kit.invoke(history.root, "pull", rev, env=engine.env())

        assert proc.stdout.split() == [history.image_id]
        assert engine.image_id(history.image_id) == history.image_id
