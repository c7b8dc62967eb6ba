"""The devcontainer's host layer: the host's Docker socket only when the user opts in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lockstep.errors import ConfigError
from lockstep.run import devcontainer


def test_without_opting_in_there_is_no_socket_and_no_group(monkeypatch):
    monkeypatch.delenv(devcontainer.SOCKET_VARIABLE, raising=False)
    assert devcontainer.socket_gid() is None
    layer = devcontainer.dockerfile("img:dev", None, {"a": "b"})
    assert "usermod" not in layer and layer.startswith("FROM img:dev\n")


def test_opting_in_joins_the_sockets_group(monkeypatch, tmp_path):
    socket = tmp_path / "docker.sock"
    socket.write_text("")
    # A group of its own, as Debian's `docker` group is: root may pick any; anyone else one of
    # their own groups (a user may give their files to those).
    gid = 4242 if os.geteuid() == 0 else max([*os.getgroups(), os.getegid()])
    os.chown(socket, -1, gid)
    monkeypatch.setenv(devcontainer.SOCKET_VARIABLE, str(socket))
    assert gid != 0 and devcontainer.socket_gid() == gid
    assert "usermod --append --groups" in devcontainer.dockerfile("img:dev", gid, {})


def test_a_socket_of_roots_group_is_refused(monkeypatch):
    # `/` belongs to group 0 on every Linux: no root needed to point at a root-group file.
    assert Path("/").stat().st_gid == 0
    monkeypatch.setenv(devcontainer.SOCKET_VARIABLE, "/")
    with pytest.raises(ConfigError, match="belongs to group 0"):
        devcontainer.socket_gid()


def test_a_missing_socket_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.setenv(devcontainer.SOCKET_VARIABLE, str(tmp_path / "none.sock"))
    with pytest.raises(ConfigError, match="No such file"):
        devcontainer.socket_gid()


@pytest.mark.parametrize(
    ("uid", "chosen", "refusal"),
    [
        (1000, None, None),
        (0, "root", None),
        (0, None, "as root on this machine, the devcontainer's user lockstep cannot write"),
        (0, "lockstep", "set LOCKSTEP_DEVCONTAINER_USER=root where the editor starts"),
        (1000, "root", "LOCKSTEP_DEVCONTAINER_USER=root is for a root host user"),
        (1000, "admin", "LOCKSTEP_DEVCONTAINER_USER=admin: not a user of the image"),
    ],
)
def test_the_container_user_must_fit_the_host_user(monkeypatch, uid, chosen, refusal):
    monkeypatch.setattr(os, "getuid", lambda: uid)
    if chosen is None:
        monkeypatch.delenv(devcontainer.USER_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(devcontainer.USER_VARIABLE, chosen)
    if refusal is None:
        devcontainer.check_user()
    else:
        with pytest.raises(ConfigError, match=refusal):
            devcontainer.check_user()
