"""`lockstep.run.containers.Run`'s arguments: the limits a Slurm job's container is held to."""

from __future__ import annotations

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
