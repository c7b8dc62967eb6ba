"""The unit and pipeline tiers run cut off: no network but loopback, no Docker engine.

Every test of those tiers runs inside `cut`, in every run of the suite, so a test that starts to
need either fails where it was written, not on a machine without them. Python's sockets refuse
any address but loopback and local files; the commands tests start find proxies that lead
nowhere (pip, uv, git, curl and apt honour them) and no engine behind DOCKER_HOST. Running the
tier in a network namespace of its own (`unshare --net`, as root) cuts deeper; docs/ci.md says
how, and this keeps it true between such runs.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

# Nothing listens on the discard port: a proxied request fails at once.
DEAD_PROXY = "http://127.0.0.1:9"
NO_ENGINE = "unix:///nonexistent/lockstep-tests-no-engine.sock"
LOOPBACK = "localhost,127.0.0.1,::1"


class NetworkCut(OSError):
    """A unit or pipeline test tried to reach the network."""


def cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut the test off from the network and the Docker engine until it ends."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
        monkeypatch.setenv(name.upper(), DEAD_PROXY)
    monkeypatch.setenv("no_proxy", LOOPBACK)
    monkeypatch.setenv("NO_PROXY", LOOPBACK)
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    monkeypatch.delenv("LOCKSTEP_DOCKER", raising=False)
    for method in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, method, _guarded(getattr(socket.socket, method)))


def _guarded(connect):
    def guarded(sock: socket.socket, address, *args):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise NetworkCut(f"a unit or pipeline test may not reach {address[0]} (no network)")
        return connect(sock, address, *args)

    return guarded


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: resolving it is already the network
