"""Projects made from the kit's template: the real `lockstep` command, and a project's `./inv`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lockstep import paths, tools

from tests.support import commands

REPO = Path(__file__).resolve().parents[2]
# Not resolved: the venv's bin/python is a symlink, and the venv's bin is where `lockstep` is.
BIN = Path(sys.executable).parent
KIT_VERSION = "v1.0.0"


def copy_working_tree(source: Path, dest: Path) -> None:
    """The files a commit of `source`'s working tree would hold, symlinks kept as symlinks."""
    listed = commands.git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in sorted({name for name in listed.split("\0") if name}):
        src, dst = source / name, dest / name
        if not (src.exists() or src.is_symlink()):
            continue  # deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)


def lockstep(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real `lockstep` console script of the kit's environment."""
    return commands.run([BIN / "lockstep", *args], cwd, check=check, timeout=300)


def inv(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`./inv ARGS` in a project, as its user runs it: outside any virtualenv."""
    return commands.run([project / "inv", *args], project, env=_user_env(), check=check)


def shell(project: Path, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A bash command line in a project, as its user types it: outside any virtualenv."""
    return commands.run(["bash", "-c", script], project, env=_user_env(), check=check)


def _user_env() -> dict[str, str]:
    path = os.pathsep.join(
        part for part in os.environ.get("PATH", "").split(os.pathsep) if Path(part) != BIN
    )
    env = {**os.environ, "PATH": path}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def share_poetry(project: Path, pins: Path | None = None) -> None:
    """Let a project reuse the kit's Poetry install when it locks the same toolchain (the one
    `pins` has, for a project that does not have the kit's files yet)."""
    shared = REPO / paths.POETRY
    marker = shared / "toolchain.txt"
    if (project / paths.POETRY).exists():
        return  # `lockstep new` installed one to lock the project
    if marker.is_file() and marker.read_text() == tools.pinned_tools(pins or project):
        (project / paths.STATE).mkdir(exist_ok=True)
        (project / paths.POETRY).symlink_to(shared)
