"""The one place that starts subprocesses.

Every command is echoed to stderr before it runs (`$ docker build ...`), so users see exactly
what the kit does and can rerun it by hand.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

from lockstep.errors import CommandError

Command = Sequence[str | os.PathLike[str]]
T = TypeVar("T")


def say(message: str) -> None:
    """Progress for the user, on stderr so that stdout stays a command's own output."""
    print(f"lockstep: {message}", file=sys.stderr, flush=True)


def echo(cmd: Command) -> None:
    """Print a command the way a user would type it."""
    print("$ " + shlex.join(str(part) for part in cmd), file=sys.stderr, flush=True)


def run(
    cmd: Command,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    check: bool = True,
    quiet: bool = False,
    input: str | None = None,
    tee: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it first.

    Args:
        cmd: the program and its arguments.
        cwd: working directory.
        env: variables added to (not replacing) the current environment.
        capture: collect stdout and stderr instead of streaming them.
        check: raise CommandError on a non-zero exit.
        quiet: do not echo the command (for internal probes).
        input: text sent to standard input.
        tee: stream output to stderr as it arrives and also capture it (stdout and stderr
            merged), for long commands whose output the kit must read afterwards.

    Returns:
        The completed process, with text output when captured.
    """
    if not quiet:
        echo(cmd)
    full_env = {**os.environ, **env} if env else None
    if tee:
        proc = _tee([str(part) for part in cmd], cwd=cwd, env=full_env, input=input)
        return _checked(cmd, proc, check)
    try:
        proc = subprocess.run(
            [str(part) for part in cmd],
            cwd=cwd,
            env=full_env,
            capture_output=capture,
            text=True,
            check=False,
            input=input,
        )
    except FileNotFoundError as exc:
        raise CommandError(f"{cmd[0]} not found", "install it or put it on PATH") from exc
    return _checked(cmd, proc, check)


def _checked(cmd: Command, proc: subprocess.CompletedProcess[str], check: bool):
    """Raise CommandError for a failed process when asked to."""
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        last = detail[-1] if detail else f"exit code {proc.returncode}"
        raise CommandError(
            f"{Path(str(cmd[0])).name} failed: {last}",
            "see the output above",
            log=(proc.stdout or "") + (proc.stderr or ""),
            returncode=proc.returncode,
        )
    return proc


def _tee(cmd: list[str], *, cwd, env, input) -> subprocess.CompletedProcess[str]:
    """Run a command, copying its merged output to stderr line by line while keeping it."""
    lines: list[str] = []
    try:
        process = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if input is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    except FileNotFoundError as exc:
        raise CommandError(f"{cmd[0]} not found", "install it or put it on PATH") from exc
    with process:
        if input is not None:
            process.stdin.write(input)
            process.stdin.close()
        for line in process.stdout:
            sys.stderr.write(line)
            lines.append(line)
    return subprocess.CompletedProcess(cmd, process.returncode, "".join(lines), "")


def output(cmd: Command, **kwargs) -> str:
    """Run a command quietly and return its stripped stdout."""
    return run(cmd, capture=True, quiet=True, **kwargs).stdout.strip()


def read_from(cmd: Command, consume: Callable[[IO[bytes]], T], *, env=None) -> T:
    """Run a command, handing its standard output to `consume` as a binary stream.

    For output too large to hold or to copy to disk first (`docker save` of an image).

    Raises:
        CommandError: the command failed (its last line of stderr), or was not found.
    """
    return _piped(cmd, env, stdout=consume)


def write_to(cmd: Command, produce: Callable[[IO[bytes]], None], *, env=None) -> None:
    """Run a command, letting `produce` write its standard input as a binary stream.

    Raises:
        CommandError: the command failed (its last line of stderr), or was not found.
    """
    _piped(cmd, env, stdin=produce)


def _piped(cmd: Command, env, *, stdout=None, stdin=None):
    echo(cmd)
    full_env = {**os.environ, **env} if env else None
    args = [str(part) for part in cmd]
    try:
        process = subprocess.Popen(
            args,
            env=full_env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise CommandError(f"{cmd[0]} not found", "install it or put it on PATH") from exc
    # stderr is read at the end: the commands this serves (docker save, docker load) write
    # little there, far less than a pipe holds.
    result = None
    try:
        if stdout:
            result = stdout(process.stdout)
            process.stdout.read()  # drain, so the command is never left blocked on a pipe
        else:
            with process.stdin:
                stdin(process.stdin)
    except BrokenPipeError:
        pass  # the command ended early: its exit code and stderr say why
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        errors = process.stderr.read().decode(errors="replace")
        process.wait()
    _checked(cmd, subprocess.CompletedProcess(args, process.returncode, "", errors), True)
    return result
