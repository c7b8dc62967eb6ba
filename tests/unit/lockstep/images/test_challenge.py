"""`invoke challenge`'s search and conditions, without an engine: a fake build's verdict stands
for the image id, and the checkout's copy is a real git clone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from lockstep import git
from lockstep.errors import ConfigError
from lockstep.images import challenge, variations

ALL = variations.VARIATIONS


def fake_build(*causes: str, together: bool = False):
    """A build that differs when any of `causes` is varied (all of them, when `together`);
    it keeps every set it was asked about."""
    asked: list[set[str]] = []

    def differs(chosen) -> bool:
        names = {v.name for v in chosen}
        asked.append(names)
        hits = [name in names for name in causes]
        return all(hits) if together else any(hits)

    return differs, asked


@pytest.mark.parametrize("cause", [v.name for v in ALL])
def test_one_cause_is_found_by_halves(cause) -> None:
    differs, asked = fake_build(cause)
    assert [v.name for v in challenge.responsible(ALL, differs)] == [cause]
    # Halving 9: four levels, two builds at most on each, and the rest once.
    assert len(asked) <= 9, asked


def test_a_cause_that_takes_two_variations_names_both() -> None:
    differs, _ = fake_build("tz", "order", together=True)
    assert [v.name for v in challenge.responsible(ALL, differs)] == ["tz", "order"]


def test_two_independent_causes_are_both_named() -> None:
    differs, _ = fake_build("umask", "locale")
    assert [v.name for v in challenge.responsible(ALL, differs)] == ["locale", "umask"]


def test_vary_names_what_it_does_not_know(monkeypatch) -> None:
    assert [v.name for v in variations.chosen(" umask,tz ")] == ["tz", "umask"]
    with pytest.raises(ConfigError, match=r"no variation is called 'moon'.*umask"):
        variations.chosen("umask,moon")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "hostname" not in [v.name for v in variations.chosen("")]
    with pytest.raises(ConfigError, match="hostname needs root"):
        variations.chosen("hostname")


def test_the_conditions_of_every_variation(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", "/somewhere/.docker")
    c = variations.conditions(ALL, tmp_path)
    assert c.env["TZ"] == variations.ZONE and c.env["LC_ALL"] == variations.LOCALE
    assert abs(int(c.env["SOURCE_DATE_EPOCH"]) - int(os.path.getmtime(tmp_path))) < 60
    assert c.env["HOME"] == str(tmp_path / "home") and not any((tmp_path / "home").iterdir())
    assert c.env["DOCKER_CONFIG"] == "/somewhere/.docker"  # the same engine and plugins
    assert (c.umask, c.one_cpu, c.hostname) == (0o077, True, variations.HOSTNAME)
    assert (c.copy, c.reverse) == (variations.DEEP_PATH, True)
    # The control builds from the workspace itself; the umask alone needs a copy, at a plain path.
    assert variations.conditions((), tmp_path) == variations.Conditions()
    only_umask = variations.conditions((variations.BY_NAME["umask"],), tmp_path)
    assert (only_umask.copy, only_umask.reverse) == ("copy", False)


@pytest.fixture
def workspace(tmp_path: Path, git_identity) -> Path:
    root = tmp_path / "workspace"
    (root / "docker").mkdir(parents=True)
    (root / "docker" / "Dockerfile").write_text("FROM scratch\n")
    for name in "abc":
        (root / name).write_text(name)
    git.init(root)
    git.commit_all(root, "first")
    return root


def test_the_copy_is_a_clone_made_under_the_umask_with_the_workspaces_inputs(
    workspace, tmp_path
) -> None:
    (workspace / "docker" / "Dockerfile").write_text("FROM scratch\n# not committed yet\n")
    (workspace / "untracked").write_text("left behind")
    c = variations.conditions(
        tuple(variations.BY_NAME[n] for n in ("umask", "path", "order")), tmp_path
    )
    caller = os.umask(0o022)
    try:
        variations.enter(c)  # the umask alone: no CPU or hostname among these
        copy = challenge.checkout(workspace, c, tmp_path, [workspace / "docker" / "Dockerfile"])
    finally:
        os.umask(caller)
    assert copy == tmp_path / c.copy / "workspace" and " " in str(copy)
    assert (copy / "docker" / "Dockerfile").read_text().endswith("# not committed yet\n")
    assert not (copy / "untracked").exists()
    assert stat.S_IMODE((copy / "a").stat().st_mode) == 0o600, "checked out under umask 077"
    assert git.commit(copy) == git.commit(workspace)
