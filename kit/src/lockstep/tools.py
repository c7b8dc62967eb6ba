"""The pinned tools: Poetry (with its plugins) and uv, installed once into `.lockstep/poetry`.

Standard library only, as `toolchain.py` (the `./inv` launcher) needs them before anything is
installed. The image build checks the lock with the same Poetry (`images.builder`), and
adoption installs the Poetry of the files it is about to write (`scaffold.template`).
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path

from lockstep import files, paths, shell
from lockstep.errors import ConfigError, LockfileError
from lockstep.shell import say

# Poetry, its plugins and everything they need, every file's hash pinned (uv pip compile).
TOOLCHAIN = "docker/toolchain/poetry.txt"
UV_TOOLCHAIN = "docker/toolchain/uv.txt"
PIP_QUIET = ("-m", "pip", "--disable-pip-version-check", "--quiet")


def uv_install(root: Path, venv: Path, *args: str | Path) -> None:
    """`uv pip install --no-deps ARGS` into `venv` (the exported lock names every package).

    Raises:
        CommandError: uv failed (its output is above).
    """
    # Bytecode at install time, as pip does: uv skips it by default, and then every host
    # command (dvc, invoke, a stage run with --local) recompiles what it imports, seconds each
    # when the environment forbids writing .pyc files (PYTHONDONTWRITEBYTECODE).
    uv = [root / paths.POETRY / "bin" / "uv", "pip", "install", "--quiet", "--no-deps"]
    uv.append("--compile-bytecode")
    # uv reads a CA bundle from SSL_CERT_FILE only (else its built-in roots, which know no
    # proxy's CA); pip's variable, or the system's bundle, is often the one there is.
    from lockstep import config  # here: the no-op paths (every ./inv) need none of it

    ca = config.ca_bundle()
    env = {"SSL_CERT_FILE": str(ca)} if ca else None
    # A failed install is never taken as done: `.venv` is put back (toolchain.install), and
    # `.lockstep/poetry` is remade until its marker is written. Teed: uv's output says why it
    # failed, with no task's log too.
    with files.space_for("installing distributions with uv into", venv):
        python = venv / "bin" / "python"
        shell.run([*uv, "--python", python, *args], cwd=root, env=env, tee=True)


def ensure_poetry(root: Path, pins: Path | None = None) -> Path:
    """Return the pinned poetry executable, installing it into .lockstep/poetry if needed.

    Poetry and its plugins install from the committed, hash-checked TOOLCHAIN file, which must
    pin the versions pyproject.toml asks for (`requires-poetry`, `requires-plugins`). Both are
    read from `pins` (default: `root`): adoption installs the Poetry of files not yet in place.
    """
    pins = pins or root
    specs = poetry_specs(pins)
    locked = pins / TOOLCHAIN
    text = locked.read_text() if locked.is_file() else ""
    missing = [spec for spec in specs if not re.search(rf"(?m)^{re.escape(spec)}[ ;\\]", text)]
    if missing:
        raise LockfileError(
            f"{TOOLCHAIN} does not pin {', '.join(missing)} (pyproject.toml asks for it)",
            "regenerate it with the command at its top",
        )
    home = root / paths.POETRY
    poetry = home / "bin" / "poetry"
    marker = home / "toolchain.txt"
    wanted = pinned_tools(pins)
    if poetry.exists() and marker.exists() and marker.read_text() == wanted:
        return poetry
    say(f"installing {' '.join(specs)} and uv into {paths.POETRY} (every file hash-checked)")
    shutil.rmtree(home, ignore_errors=True)
    shell.run([sys.executable, "-m", "venv", home], cwd=root)
    # uv first (one wheel, with pip), then Poetry with uv: several times faster than pip on a
    # machine with empty caches, as the Dockerfile's export stage does it.
    pip = [home / "bin" / "python", *PIP_QUIET, "install", "--require-hashes", "--no-deps"]
    shell.run([*pip, "-r", pins / UV_TOOLCHAIN], cwd=root)
    uv_install(root, home, "--require-hashes", "-r", locked)
    marker.write_text(wanted)
    return poetry


def pinned_tools(root: Path) -> str:
    """The toolchain files' text: what `.lockstep/poetry` must have been installed from."""
    return "".join((root / name).read_text() for name in (TOOLCHAIN, UV_TOOLCHAIN))


def poetry_specs(root: Path) -> list[str]:
    """Poetry and its plugins as pip requirements, read from pyproject.toml."""
    tool = read_pyproject(root).get("tool", {}).get("poetry", {})
    if "requires-poetry" not in tool:
        raise ConfigError(
            "pyproject.toml: [tool.poetry] has no requires-poetry",
            'pin it: requires-poetry = "==X"',
        )
    pins = {"poetry": tool["requires-poetry"], **tool.get("requires-plugins", {})}
    return [f"{name}{spec}" for name, spec in pins.items()]


def read_pyproject(root: Path) -> dict:
    """The project's pyproject.toml, or one line saying why it cannot be read."""
    path = root / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found", "run ./inv from a project made with the lockstep kit"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"pyproject.toml: {exc}", "fix the TOML syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}", "check the file's permissions") from None


def check_lock(poetry: Path, root: Path) -> None:
    """Stop with a clear message when poetry.lock no longer matches pyproject.toml."""
    proc = shell.run([poetry, "check", "--lock"], cwd=root, capture=True, quiet=True, check=False)
    if proc.returncode != 0:
        raise LockfileError(
            "poetry.lock is out of date with pyproject.toml",
            "re-lock it with `./inv lock` and commit it (see the README's Dependencies section)",
        )
