"""Bootstrap the pinned toolchain and the locked environment, then hand over to invoke.

Run by the `./inv` wrapper with the system Python, before any dependency is installed, so this
module uses the standard library only. The fast path (environment up to date) costs one hash of
two files and an exec.

The environment is installed from the lock with `poetry export` and
`pip install --require-hashes --no-deps`: it checks every hash and works on package mirrors that
lack Poetry's JSON API. Poetry itself lives in its own virtualenv under `.lockstep/`, at the
version `requires-poetry` pins in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

STAMP = "lockstep-stamp"
# Poetry, its plugins and everything they need, every file's hash pinned (uv pip compile).
TOOLCHAIN = "docker/toolchain/poetry.txt"


def main(root: Path, argv: list[str]) -> None:
    """Make sure .venv matches the lock, then exec invoke with `argv`."""
    venv = root / ".venv"
    digest = fingerprint(root)
    stamp = venv / STAMP
    if not (stamp.exists() and stamp.read_text() == digest):
        sync(root, venv)
        stamp.write_text(digest)
    invoke = venv / "bin" / "invoke"
    os.chdir(root)
    # Tasks run dvc, pytest and ruff by name: put the environment first on PATH.
    os.environ["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["VIRTUAL_ENV"] = str(venv)
    os.execv(invoke, [str(invoke), *argv])


def fingerprint(root: Path) -> str:
    """Hash of everything that decides the environment's contents.

    Only pyproject.toml's [project] and [tool.poetry] tables count: editing ruff's or the kit's
    settings must not reinstall anything.
    """
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    relevant = {
        "project": pyproject.get("project"),
        "poetry": pyproject.get("tool", {}).get("poetry"),
    }
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode())
    for name in ("poetry.lock", TOOLCHAIN, "src/lockstep/bootstrap.py"):
        digest.update((root / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def sync(root: Path, venv: Path) -> None:
    """Make .venv hold exactly what the lock says; reinstall only when that changed."""
    poetry = ensure_poetry(root)
    check_lock(poetry, root)
    requirements = root / ".lockstep" / "requirements.txt"
    export = [poetry, "export", "--with", "dev", "--format", "requirements.txt"]
    run([*export, "--output", requirements], root)
    installed = venv / "requirements.txt"
    if installed.exists() and installed.read_text() == requirements.read_text():
        return
    say("installing the locked environment into .venv (once per lock change; about a minute)")
    install(root, venv, requirements)
    shutil.copyfile(requirements, installed)


def install(root: Path, venv: Path, requirements: Path) -> None:
    """(Re)create .venv from exported requirements, with the project installed editable."""
    # Recreate rather than upgrade in place: a package dropped from the lock must disappear.
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", venv], root)
    pip = [venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run([*pip, "install", "--require-hashes", "--no-deps", "-r", requirements], root)
    run([*pip, "install", "--no-deps", "--editable", "."], root)


def ensure_poetry(root: Path) -> Path:
    """Return the pinned poetry executable, installing it into .lockstep/poetry if needed.

    Poetry and its plugins install from the committed, hash-checked TOOLCHAIN file, which must
    pin the versions pyproject.toml asks for (`requires-poetry`, `requires-plugins`).
    """
    specs = poetry_specs(root)
    locked = root / TOOLCHAIN
    text = locked.read_text() if locked.is_file() else ""
    missing = [spec for spec in specs if not re.search(rf"(?m)^{re.escape(spec)}[ ;\\]", text)]
    if missing:
        fail(
            f"{TOOLCHAIN} does not pin {', '.join(missing)} (pyproject.toml asks for it); "
            f"regenerate it with the command at its top"
        )
    home = root / ".lockstep" / "poetry"
    poetry = home / "bin" / "poetry"
    marker = home / "toolchain.txt"
    if poetry.exists() and marker.exists() and marker.read_text() == text:
        return poetry
    say(f"installing {' '.join(specs)} into .lockstep/poetry (every file hash-checked)")
    shutil.rmtree(home, ignore_errors=True)
    run([sys.executable, "-m", "venv", home], root)
    pip = [home / "bin" / "python", "-m", "pip", "--quiet", "--disable-pip-version-check"]
    run([*pip, "install", "--require-hashes", "-r", locked], root)
    marker.write_text(text)
    return poetry


def poetry_specs(root: Path) -> list[str]:
    """Poetry and its plugins as pip requirements, read from pyproject.toml."""
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["poetry"]
    pins = {"poetry": tool["requires-poetry"], **tool.get("requires-plugins", {})}
    return [f"{name}{spec}" for name, spec in pins.items()]


def check_lock(poetry: Path, root: Path) -> None:
    """Stop with a clear message when poetry.lock no longer matches pyproject.toml."""
    proc = subprocess.run([poetry, "check", "--lock"], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(
            "poetry.lock is out of date with pyproject.toml; "
            "re-lock it with `poetry lock` and commit it (see the README's Dependencies section)"
        )


def run(cmd: list, cwd: Path) -> None:
    """Echo and run a command; a failure ends the bootstrap with its exit code."""
    print("$ " + " ".join(str(part) for part in cmd), file=sys.stderr, flush=True)
    code = subprocess.run([str(part) for part in cmd], cwd=cwd).returncode
    if code:
        fail(f"{Path(str(cmd[0])).name} exited with {code}; see the output above", code)


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the task's own."""
    print(f"lockstep: {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> None:
    """One line on stderr, then exit non-zero."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
