"""A new machine: an empty Docker engine, a fresh clone, an empty DVC cache and build cache.

Machine A builds, archives the base's `.deb` files in its DVC remote, reproduces and commits.
Machine B clones A and runs `invoke repro` against a second, empty engine, with an empty cache
and no mirror it may use: the base comes back from the archive with the recorded image id, the
runtime image B builds has the id of A's (every layer byte-identical), and every output has the
md5 A committed.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from lockstep import config
from lockstep.images import builder, debs, manifest

# A new user on an empty engine: the toolchain, the base and the image from nothing.
pytestmark = [pytest.mark.docker, pytest.mark.slow]

MANIFEST = "docker/base/packages.lock"
# Nothing answers there: any rung that needs a Debian mirror fails.
UNREACHABLE = "http://127.0.0.1:9/debian"


def test_a_fresh_clone_on_an_empty_engine_reproduces_from_the_archive(
    kit, second_engine, tmp_path
) -> None:
    machine_a = kit.copy("machine-a")
    shutil.copytree(kit.debs(), machine_a / debs.FOLDER)
    debs.store(machine_a)
    kit.invoke(machine_a, "repro")
    kit.git(machine_a, "add", "--all")
    kit.git(machine_a, "commit", "--quiet", "--no-verify", "-m", "results, base archived")
    recorded = manifest.read(machine_a / MANIFEST)
    built_on_a = builder.find(config.load(machine_a), kit.engine)

    machine_b = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(machine_a), str(machine_b)], check=True)
    remote = machine_a / ".lockstep" / "dvc-remote"
    kit.dvc(machine_b, "remote", "modify", "--local", "local", "url", str(remote))
    pyproject = machine_b / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.lockstep.base]\n", f'[tool.lockstep.base]\nmirrors = ["{UNREACHABLE}"]\n'
        )
    )

    empty_cache = tmp_path / "cache"
    proc = kit.invoke(
        machine_b,
        "repro",
        env={"DOCKER_HOST": second_engine.host, "XDG_CACHE_HOME": str(empty_cache)},
        timeout=1200,
    )

    output = proc.stderr
    assert "base: not in the engine" in output, output
    assert "base: rebuilt from the archived .deb files (exact)" in output, output
    assert manifest.read(machine_b / MANIFEST) == recorded
    for image in (recorded.image, built_on_a.id):
        on_b = subprocess.run(
            ["/usr/bin/docker", "--host", second_engine.host, "image", "inspect", image],
            capture_output=True,
        )
        assert on_b.returncode == 0, f"{image} is not in the second engine"
    assert any((empty_cache / "lockstep" / "packages").iterdir()), "B's own cache was not used"
    assert kit.out_hashes(machine_b) == kit.out_hashes(machine_a)
    assert f"reproduced: {len(kit.outputs)} of {len(kit.outputs)} outputs identical" in output
