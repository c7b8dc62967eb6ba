"""Install the pinned toolchain and the locked environment, then hand over to invoke.

Run by the `./inv` wrapper with the system Python, before any dependency is installed, so this
module (and the kit modules it imports) use the standard library only. The fast path
(environment up to date) costs one hash of a few files and an exec.

The environment is installed from the lock with `poetry export` and
`uv pip install --require-hashes --no-deps`: it checks every hash and works on package mirrors that
lack Poetry's JSON API. Poetry itself lives in its own virtualenv under `.lockstep/`, at the
version `requires-poetry` pins in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

if not __package__:
    # Run as a script by ./inv, before any environment exists: make the kit importable.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from lockstep import files, paths, shell, tools
from lockstep.errors import CommandError, LockstepError
from lockstep.images import recorded
from lockstep.shell import say

STAMP = "lockstep-stamp"
# This module, as it runs: the project's pinned kit's (.lockstep/kit), or the checkout's.
MODULE = Path(__file__)
# The tasks that build the image: when they must install .venv first, the base's `.deb` files
# are downloaded meanwhile (lockstep.images.prefetch).
BUILDING = ("build", "repro", "challenge")


def main(root: Path, argv: list[str]) -> None:
    """Make sure .venv matches the lock, then exec invoke with `argv` (`lock`: re-lock first).

    `--verbose` (anywhere before `--`) is the kit's, for every task: each command it runs, and
    all their output, on the terminal as well as in the log.
    """
    argv = verbosity(argv)
    try:
        if argv == ["lock"]:
            relock(root)
            return
        prepare(root, building=bool(argv) and argv[0] in BUILDING and "--local" not in argv)
        if argv == ["build"] and answered(root):
            return
    except LockstepError as exc:
        code = exc.returncode if isinstance(exc, CommandError) else exc.exit_code
        fail(str(exc), code)
    except OSError as exc:
        fail(files.describe_os_error(exc))
    venv = root / ".venv"
    invoke = venv / "bin" / "invoke"
    os.chdir(root)
    # Tasks run dvc, pytest and ruff by name: put the environment first on PATH.
    os.environ["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["VIRTUAL_ENV"] = str(venv)
    os.execv(invoke, [str(invoke), *help_first(argv)])


def answered(root: Path) -> bool:
    """Print the recorded answer of a build whose inputs did not change; whether there was one.

    Here, before invoke is imported (its import alone costs a no-op build three times over).
    """
    build = recorded.answer(root)
    if build is None:
        return False
    say(build.up_to_date())
    print(recorded.summary(build.tag, build.commit_tag, build.id, build.fingerprint))
    return True


def verbosity(argv: list[str]) -> list[str]:
    """`argv` without `--verbose`, which sets LOCKSTEP_VERBOSE for the task it runs."""
    head, tail = (
        (argv[: argv.index("--")], argv[argv.index("--") :]) if "--" in argv else (argv, [])
    )
    if "--verbose" in head:
        os.environ[shell.VERBOSE_VARIABLE] = "1"
    return [arg for arg in head if arg != "--verbose"] + tail


def help_first(argv: list[str]) -> list[str]:
    """`TASK ... --help` as invoke's `--help TASK`.

    A task whose argument is positional (`pull REV`) would take `--help` for that argument.
    What follows `--` is DVC's, left alone.
    """
    head = argv[: argv.index("--")] if "--" in argv else argv
    if head and not head[0].startswith("-") and {"--help", "-h"} & set(head[1:]):
        return ["--help", head[0]]
    return argv


def prepare(root: Path, *, building: bool = False) -> None:
    """Install the pinned Poetry and the locked environment when they are missing or stale.

    `building`: the task builds the image; a download it will need starts first, meanwhile.
    A second `./inv` meanwhile waits, then finds everything installed.

    Raises:
        LockfileError: the lock is stale, or the toolchain file does not pin pyproject's Poetry.
        ConfigError: pyproject.toml cannot be read.
        CommandError: an installer failed.
    """
    if _stale(root):
        with installing(root):
            _install(root, building=building)


def installing(root: Path):
    """The lock held while .lockstep/poetry and .venv are (re)installed."""
    waiting = "another ./inv is installing the environment here; waiting for it to finish"
    return files.exclusive(root / paths.TOOLCHAIN_LOCK, waiting)


def _stale(root: Path) -> str | None:
    """The digest of the inputs when .venv was not installed from them, else None."""
    digest = inputs_digest(root)
    stamp = root / ".venv" / STAMP
    return None if stamp.exists() and stamp.read_text() == digest else digest


def _install(root: Path, *, building: bool) -> None:
    """`prepare`'s work, with the lock held: asked again, as the holder before may have done it."""
    digest = _stale(root)
    if digest is None:
        return
    shell.start_log(root / paths.LOGS)
    if building:
        from lockstep.images import prefetch  # here: the no-op paths need none of it

        prefetch.start(root)
    venv = root / ".venv"
    sync(root, venv)
    (venv / STAMP).write_text(digest)


def relock(root: Path) -> None:
    """`./inv lock`: re-lock poetry.lock (lockstep.lockfile), then bring .venv up to date.

    Handled here, before invoke, because a stale lock is what it is for and the environment
    cannot be installed from one; run with Poetry's own Python, which has tomlkit.
    """
    with installing(root):
        shell.start_log(root / paths.LOGS)
        poetry = tools.ensure_poetry(root)
        script = Path(__file__).resolve().with_name("lockfile.py")
        proc = shell.run([poetry.parent / "python", script, poetry, root], cwd=root, check=False)
        if proc.returncode:
            raise SystemExit(proc.returncode)  # the lock's error is above
        _install(root, building=False)
    print("locked: review `git diff poetry.lock`, then commit it")


def inputs_digest(root: Path) -> str:
    """Hash of everything that decides the environment's contents.

    Only pyproject.toml's [project] and [tool.poetry] tables count: editing ruff's or the kit's
    settings must not reinstall anything.
    """
    pyproject = tools.read_pyproject(root)
    relevant = {
        "project": pyproject.get("project"),
        "poetry": pyproject.get("tool", {}).get("poetry"),
    }
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode())
    for name in ("poetry.lock", tools.TOOLCHAIN, tools.UV_TOOLCHAIN):
        digest.update((root / name).read_bytes())
    # This module and tools.py decide how .venv is made (the pinned kit's, or the checkout's).
    digest.update(MODULE.read_bytes() + Path(tools.__file__).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def sync(root: Path, venv: Path) -> None:
    """Make .venv hold exactly what the lock says; reinstall only when that changed."""
    poetry = tools.ensure_poetry(root)
    tools.check_lock(poetry, root)
    requirements = root / paths.REQUIREMENTS
    export = [poetry, "export", "--with", "dev", "--format", "requirements.txt"]
    shell.run([*export, "--output", requirements], cwd=root)
    installed = venv / "requirements.txt"
    if installed.exists() and installed.read_text() == requirements.read_text():
        # Same dependencies; the project's own metadata (its scripts, say) may have changed.
        install_project(root, venv)
        return
    say("installing the locked environment into .venv (once per lock change)")
    install(root, venv, requirements)
    shutil.copyfile(requirements, installed)


def install(root: Path, venv: Path, requirements: Path) -> None:
    """(Re)create .venv from exported requirements, with the project installed editable.

    uv installs them (every hash checked, as in the image): it downloads and unpacks in
    parallel, a few times faster than pip. Recreated rather than upgraded in place, so that a
    package dropped from the lock disappears. A virtualenv cannot move, so the old one is set
    aside and put back if the install fails (a bad lock, the network): a failed install never
    costs a working .venv.
    """
    previous = venv.with_name(venv.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if venv.exists():
        venv.rename(previous)
    try:
        shell.run([sys.executable, "-m", "venv", venv], cwd=root)
        tools.uv_install(root, venv, "--require-hashes", "-r", requirements)
        install_project(root, venv)
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        if previous.exists():
            previous.rename(venv)
            say("the install failed; .venv is left as it was")
        raise
    shutil.rmtree(previous, ignore_errors=True)


def install_project(root: Path, venv: Path) -> None:
    """The project itself, editable: unless it is no package (`package-mode = false`)."""
    if tools.read_pyproject(root).get("tool", {}).get("poetry", {}).get("package-mode", True):
        tools.uv_install(root, venv, "--editable", ".")


def fail(message: str, code: int = 2) -> None:
    """One line on stderr, then exit non-zero."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
