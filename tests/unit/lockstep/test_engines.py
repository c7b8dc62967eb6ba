"""Finding a docker CLI: what the kit says when there is none, or a broken one.

The CLIs here are small scripts standing in for a broken or missing docker: the point is what
the kit does with bad answers, which a working engine never gives.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from lockstep import engines
from lockstep.errors import EngineError


def cli(folder: Path, name: str, version_output: str) -> Path:
    """An executable that prints `version_output` for `NAME version ...`."""
    path = folder / name
    # printf is the shell's own: the tests may leave PATH empty.
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{version_output}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(autouse=True)
def uncached():
    engines.find.cache_clear()
    yield
    engines.find.cache_clear()


def test_no_docker_cli_anywhere_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(engines, "CANDIDATES", ("docker", str(tmp_path / "nowhere/docker")))
    with pytest.raises(EngineError, match="no docker CLI found") as caught:
        engines.find()
    assert "LOCKSTEP_DOCKER" in caught.value.hint


def test_a_cli_that_prints_no_version_record_is_named(tmp_path):
    garbled = cli(tmp_path, "docker", "Segmentation fault (core dumped)")
    with pytest.raises(EngineError, match="is not a docker CLI") as caught:
        engines.find(str(garbled))
    assert str(garbled) in caught.value.message


def test_the_second_candidate_is_used_when_the_first_is_missing(monkeypatch, tmp_path):
    good = cli(tmp_path, "docker-20", '{"Client": {"Version": "20.10.24"}}')
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(engines, "CANDIDATES", ("docker", str(good)))
    assert engines.find() == engines.Engine(str(good))


def test_a_cli_that_cannot_reach_the_engine_says_how_to_start_it(tmp_path):
    down = tmp_path / "docker"
    down.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    down.chmod(0o755)
    with pytest.raises(EngineError, match="cannot reach the Docker engine") as caught:
        engines.find(str(down))
    assert "dockerd" in caught.value.hint


def test_a_new_cli_without_buildx_is_refused_with_what_to_do(tmp_path):
    # Clients from 23.0 build with BuildKit only through the buildx plugin.
    new = tmp_path / "docker"
    new.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then printf \'%s\\n\' \'{"Client": {"Version": "28.2.2"}}\'; '
        "exit 0; fi\n"
        "exit 1\n"
    )
    new.chmod(0o755)
    with pytest.raises(EngineError, match="has no buildx plugin") as caught:
        engines.find(str(new))
    assert "LOCKSTEP_DOCKER" in caught.value.hint
