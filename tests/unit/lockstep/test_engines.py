"""Finding a docker CLI: what the kit says when there is none, or a broken one.

The CLIs here are small scripts standing in for a broken or missing docker: the point is what
the kit does with bad answers, which a working engine never gives.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from lockstep import engines
from lockstep.errors import CommandError, EngineError, EngineStoppedError


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


def docker(folder: Path, *, answers: bool, says: str) -> engines.Engine:
    """A docker CLI whose every command but `version` fails saying `says` (its input read);
    `version` answers when the engine does. The lines are the real CLI's (20.10 and 28)."""
    path = folder / "docker"
    reply = (
        "exit 0"
        if answers
        else "echo 'Cannot connect to the Docker daemon at unix:///x.sock.' >&2; exit 1"
    )
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then {reply}; fi\n'
        "cat > /dev/null\n"
        f"printf '%s\\n' 'Step 3/4' '{says}' >&2\n"
        "exit 1\n"
    )
    path.chmod(0o755)
    return engines.Engine(str(path))


def test_a_command_whose_engine_stopped_ends_with_one_line_checked_or_not(tmp_path):
    engine = docker(tmp_path, answers=False, says="unexpected EOF")
    with pytest.raises(EngineStoppedError) as caught:
        engine.run("build", "--progress=plain", ".", capture=True, check=False)
    assert caught.value.message == "the Docker engine stopped during `docker build`: unexpected EOF"
    assert "dockerd" in caught.value.hint and "run the task again" in caught.value.hint


def test_an_engine_gone_without_a_word_is_named_by_the_probe(tmp_path):
    # A graceful stop ends a run's container: `docker run` exits with its code, saying nothing.
    engine = docker(tmp_path, answers=False, says="> sleep 30")
    with pytest.raises(EngineStoppedError, match="during `docker run`: Cannot connect"):
        engine.run("run", "--rm", "image", tee=True, show=True, check=False)


def test_a_lost_connection_is_recognised_when_the_engine_is_back_already(tmp_path):
    # Restarted (systemctl restart) before the kit asked: the CLI's last line says what happened.
    logged = (
        'time="2026-12-07T01:59:04Z" level=error msg="error waiting for container: unexpected EOF"'
    )
    engine = docker(tmp_path, answers=True, says=logged)
    with pytest.raises(EngineStoppedError) as caught:
        engine.run("run", "--rm", "image", capture=True, check=False)
    assert caught.value.message.endswith(
        "`docker run`: error waiting for container: unexpected EOF"
    )
    closed = (
        'error during connect: Post "http://%2Fx.sock/v1.41/images/load?quiet=1": '
        "write unix @->/x.sock: use of closed network connection"
    )
    engine = docker(tmp_path, answers=True, says=closed)
    with pytest.raises(EngineStoppedError, match="during `docker load`: error during connect"):
        engine.write_to("load", "--quiet", produce=lambda stdin: stdin.write(b"x" * 100_000))


def test_the_engine_s_own_refusal_is_the_command_s_error_with_no_probe(tmp_path):
    # A probe would find no engine here: an image missing is told without asking one.
    engine = docker(tmp_path, answers=False, says="Error response from daemon: No such image: x")
    assert engine.inspect("x") is None
    with pytest.raises(CommandError, match="No such image") as caught:
        engine.read_from("save", "x", consume=lambda stream: stream.read())
    assert not isinstance(caught.value, EngineStoppedError)
