"""A new machine: an empty Docker engine, a fresh clone, an empty DVC cache and build cache.

Machine A builds, archives the base's `.deb` files in its DVC remote, reproduces and commits.
Machine B clones A and runs `invoke repro` against a second, empty engine, with an empty cache
and no mirror it may use: the base comes back from the archive with the recorded image id, the
runtime image B builds has the id of A's (every layer byte-identical), and every output has the
md5 A committed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from lockstep import config, paths, shell
from lockstep.images import builder, debs, manifest

# A new user on an empty engine: the toolchain, the base and the image from nothing.
pytestmark = [pytest.mark.docker, pytest.mark.slow]

MANIFEST = "docker/base/packages.lock"
# Nothing answers there: any rung that needs a Debian mirror fails.
UNREACHABLE = "http://127.0.0.1:9/debian"


# An engine of its own: the shared second engine holds what other tests loaded into it.
# A fresh machine bootstraps everything (toolchain, base, packages) while the suite shares two
# CPUs with it: minutes, and more than the default limit when the machine is busy.
@pytest.mark.timeout(900)
def test_a_fresh_clone_on_an_empty_engine_reproduces_from_the_archive(
    kit, empty_engine, tmp_path
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
        # The output a new user sees: not verbose, in a pipe.
        env={
            "DOCKER_HOST": empty_engine.host,
            "XDG_CACHE_HOME": str(empty_cache),
            shell.VERBOSE_VARIABLE: "",
        },
        timeout=1200,
    )

    output = proc.stderr
    assert "base: not in the engine" in output, output
    assert "base: rebuilt from the archived .deb files (exact)" in output, output
    assert manifest.read(machine_b / MANIFEST) == recorded
    for image in (recorded.image, built_on_a.id):
        on_b = subprocess.run(
            ["/usr/bin/docker", "--host", empty_engine.host, "image", "inspect", image],
            capture_output=True,
        )
        assert on_b.returncode == 0, f"{image} is not in the second engine"
    assert any((empty_cache / "lockstep" / "packages").iterdir()), "B's own cache was not used"
    assert kit.out_hashes(machine_b) == kit.out_hashes(machine_a)
    assert f"reproduced: {len(kit.outputs)} of {len(kit.outputs)} outputs identical" in output

    # One line per step and DVC's stages: no command lines, no tool's output, about 40 lines.
    printed = (proc.stdout + proc.stderr).splitlines()
    assert len(printed) <= 40, "\n".join(printed)
    assert not [line for line in printed if line.startswith("$ ")], output
    # The log has it all: every command the kit ran and what the tools printed.
    (log,) = (machine_b / paths.LOGS).iterdir()
    logged = log.read_text()
    for command in (r"mmdebstrap ", r"\S*docker build ", r"\S*docker load "):
        assert re.search(rf"(?m)^\$ {command}", logged), f"no {command!r} in {log}"
    assert "I: extracting archives..." in logged  # mmdebstrap's own output
    assert set(printed) <= set(logged.splitlines()) | {""}
