"""`lockstep.run.containers.Run` without Docker: its arguments, and the runs derived from one."""

from __future__ import annotations

import dataclasses

import pytest
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.run.containers import Run


@pytest.mark.parametrize(
    ("cpus", "memory", "limits"),
    [
        (0, "", []),
        (4, "16G", ["--cpus", "4", "--memory", "16g"]),
        (0, "4000", ["--memory", "4000m"]),  # Slurm's unit is the megabyte, Docker's the byte
    ],
)
def test_limits_are_docker_run_options_before_the_image(tmp_path, cpus, memory, limits) -> None:
    run = Run(Settings(root=tmp_path), Engine("docker"), "sha256:img", ["true"])
    args = run.with_limits(cpus, memory).arguments()
    found = [arg for arg in args[: args.index("sha256:img")] if arg in limits]
    assert found == limits


def test_a_derived_run_leaves_its_original_untouched(tmp_path) -> None:
    command = ["dvc", "repro"]
    original = Run(Settings(root=tmp_path), Engine("docker"), "sha256:img", command)
    before = original.arguments()

    derived = (
        original.with_limits(4, "16G")
        .with_volume("/cache")
        .with_env(EXTRA="1")
        .with_network("none")
        .with_command("true")
        .on_tree(tmp_path / "tree")
    )
    command.append("--force")  # the caller's list, changed afterwards

    assert original.arguments() == before
    assert original.command == ("dvc", "repro")
    for option in ["--cpus", "--memory", "/cache:/cache:rw", "EXTRA=1", "--network"]:
        assert option not in before
        assert any(option in arg for arg in derived.arguments())
    assert derived.name != original.name
    assert derived.settings.root == tmp_path / "tree"
    with pytest.raises(dataclasses.FrozenInstanceError):
        original.limits = ("--cpus", "1")  # type: ignore[misc]


def test_a_path_mounted_already_is_not_mounted_again(tmp_path) -> None:
    # A sweep point mounts the DVC cache that its run, on a cache outside the workspace, has.
    run = Run(Settings(root=tmp_path), Engine("docker"), "sha256:img", ["true"])
    args = run.with_volume("/cache").with_volume("/cache").arguments()
    assert args.count("/cache:/cache:rw") == 1
