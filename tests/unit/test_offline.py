"""The unit and pipeline tiers run cut off (tests/support/offline.py): the cut holds."""

import shutil
import socket
import subprocess
import urllib.request

import pytest

from tests.support import offline


def test_a_socket_reaches_loopback_and_nothing_else():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    with pytest.raises(offline.NetworkCut), socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: documentation only


def test_a_command_finds_no_way_out(tmp_path):
    # What pip, uv, git and curl do: go through the proxy the environment names.
    with pytest.raises(OSError):
        urllib.request.urlopen("http://192.0.2.1/", timeout=5)
    docker = shutil.which("docker")
    if docker:  # the kit's unit tests also run where no docker CLI is installed
        proc = subprocess.run([docker, "version"], capture_output=True, text=True, check=False)
        assert proc.returncode != 0 and "nonexistent" in proc.stderr, proc.stderr
