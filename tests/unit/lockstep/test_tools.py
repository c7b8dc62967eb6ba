"""The pinned tools: a full disk while uv installs is one line, and the next try completes."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from lockstep import paths, tools
from lockstep.errors import DiskFullError

# The project's own uv, which `./inv` installed (the tests run in the project).
PROJECT = Path(__file__).resolve().parents[3]


def wheel(folder: Path, data: bytes) -> Path:
    """A wheel of one distribution, `big`, holding `data`."""
    path = folder / "big-1.0-py3-none-any.whl"
    info = "big-1.0.dist-info"
    members = {
        "big/blob.bin": data,
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256={digest(content)},{len(content)}" for name, content in members.items()
    ]
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        archive.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,", ""]))
    return path


def digest(content: bytes) -> str:
    """A file's hash as a wheel's RECORD writes it."""
    return base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()


def test_a_full_disk_while_uv_installs_is_one_line_and_the_next_try_completes(
    tmp_path, small_disk, monkeypatch
):
    uv = tmp_path / paths.POETRY / "bin" / "uv"
    uv.parent.mkdir(parents=True)
    uv.symlink_to(PROJECT / paths.POETRY / "bin" / "uv")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    package = wheel(tmp_path, os.urandom(6_000_000))
    disk = small_disk(tmp_path / "disk", 4)
    venv = disk.path / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)

    with pytest.raises(DiskFullError) as caught:
        tools.uv_install(tmp_path, venv, "--no-index", package)

    assert str(caught.value) == (
        f"No space left on device while installing distributions with uv into {venv}; "
        "free some disk space and run again (nothing was replaced)"
    )
    disk.resize(16)
    tools.uv_install(tmp_path, venv, "--no-index", package)
    site = next(venv.glob("lib/python3*/site-packages"))
    assert (site / "big" / "blob.bin").stat().st_size == 6_000_000
