"""The one place that starts subprocesses, and what the user sees of them.

Each task writes a log (`start_log`, under `.lockstep/logs/`): every command the kit runs, as a
user would type it, and everything it printed. The terminal gets one line per step (`say`), the
output of the commands that are the result (DVC's stages: `show=True`), and, in a terminal, a
transient line with a spinner or a progress bar while a long command works. A failed command's
error names its last line and the log. `--verbose` (LOCKSTEP_VERBOSE=1) echoes every command and
all its output as well, so users can see exactly what the kit does and rerun it by hand; with no
log (the kit used as a library), that is the default too.

Standard library only, as `toolchain.py` needs it before anything is installed: rich (the
progress display uv, Poetry and DVC users know) is imported when a terminal is there to show it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

from lockstep.errors import CommandError

Command = Sequence[str | os.PathLike[str]]
T = TypeVar("T")

VERBOSE_VARIABLE = "LOCKSTEP_VERBOSE"
# The log of the task running, handed to the processes it starts (`./inv` execs invoke): one
# command, one log, however many processes it takes.
LOG_VARIABLE = "LOCKSTEP_LOG"
LOGS_KEPT = 20
_USAGE = re.compile(r"See '[^']+ --help'\.")

_log: IO[str] | None = None


def verbose() -> bool:
    """Whether every command and all its output go to the terminal too."""
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


def start_log(folder: Path) -> Path | None:
    """Log every command and its output from now on: to the file this task began, or a new one.

    The task's own (LOG_VARIABLE) when it is in `folder`: another project's kit run from this
    one (the tests' copies, a project a task creates) keeps a log of its own.

    A new one is named by the time and process, in `folder`, where the last LOGS_KEPT are kept.
    Where no log can be written (a read-only checkout), everything goes to the terminal, as
    verbose; None then.
    """
    global _log
    inherited = os.environ.get(LOG_VARIABLE)
    if _log is not None:
        return Path(_log.name)
    try:
        if inherited and Path(inherited).parent == folder:
            path = Path(inherited)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            for old in sorted(folder.glob("*.log"))[:-LOGS_KEPT]:
                old.unlink(missing_ok=True)
        # Line-buffered: a log read while a command runs, or after a crash, is complete so far.
        _log = path.open("a", buffering=1, encoding="utf-8", errors="replace")
    except OSError:
        return None
    os.environ[LOG_VARIABLE] = str(path)
    return path


def log_path() -> Path | None:
    """The log this process writes, if any."""
    return Path(_log.name) if _log is not None else None


def _logged(text: str) -> None:
    if _log is not None:
        _log.write(text)


def _echoing() -> bool:
    return verbose() or _log is None


def say(message: str) -> None:
    """A step, for the user: on stderr so that stdout stays a command's own output."""
    line = f"lockstep: {message}"
    print(line, file=sys.stderr, flush=True)
    _logged(line + "\n")


def echo(cmd: Command) -> None:
    """Log a command the way a user would type it; print it too when verbose."""
    line = "$ " + shlex.join(str(part) for part in cmd)
    _logged(line + "\n")
    if _echoing():
        print(line, file=sys.stderr, flush=True)


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
    show: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command, logging it first.

    Args:
        cmd: the program and its arguments.
        cwd: working directory.
        env: variables added to (not replacing) the current environment.
        capture: collect stdout and stderr instead of streaming them.
        check: raise CommandError on a non-zero exit.
        quiet: do not log the command (for internal probes).
        input: text sent to standard input.
        tee: also capture the output (stdout and stderr merged) as it streams, for long
            commands whose output the kit must read afterwards.
        show: the output is the result the user asked for (DVC's stages): to the terminal
            as well as the log, verbose or not.

    Returns:
        The completed process, with text output when captured.
    """
    if not quiet:
        echo(cmd)
    full_env = {**os.environ, **env} if env else None
    if tee or (not capture and _log is not None):
        proc = _tee(cmd, cwd=cwd, env=full_env, input=input, shown=show or _echoing())
        return _checked(cmd, proc, check, shown=show or _echoing())
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
    if proc.returncode and not quiet:
        _logged((proc.stdout or "") + (proc.stderr or ""))
    return _checked(cmd, proc, check, shown=not capture)


def _checked(cmd: Command, proc: subprocess.CompletedProcess[str], check: bool, *, shown: bool):
    """Raise CommandError for a failed process when asked to; `shown`: its output is above."""
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        # docker ends a refusal with a pointer to its usage (`See 'docker run --help'.`): the
        # reason is the line before it.
        detail = [line for line in detail if not _USAGE.fullmatch(line.strip())]
        last = detail[-1] if detail else f"exit code {proc.returncode}"
        path = log_path()
        raise CommandError(
            f"{Path(str(cmd[0])).name} failed: {last}",
            "see the output above" if shown or path is None else f"see its output in {path}",
            log=(proc.stdout or "") + (proc.stderr or ""),
            returncode=proc.returncode,
        )
    return proc


def _tee(cmd: Command, *, cwd, env, input, shown: bool) -> subprocess.CompletedProcess[str]:
    """Run a command, its merged output kept and logged line by line, and shown or summed up.

    Not shown, a terminal gets a transient line instead: the command's name, the time it has
    taken and its latest line of output, so that a slow download never looks like a hang.
    """
    lines: list[str] = []
    args = [str(part) for part in cmd]
    try:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if input is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError as exc:
        raise CommandError(f"{cmd[0]} not found", "install it or put it on PATH") from exc
    with process, contextlib.nullcontext(None) if shown else activity(_title(cmd)) as line:
        if input is not None:
            process.stdin.write(input)
            process.stdin.close()
        for text in process.stdout:
            if shown:
                sys.stderr.write(text)
            elif line and text.strip():
                line.note(text.strip())
            _logged(text)
            lines.append(text)
    return subprocess.CompletedProcess(args, process.returncode, "".join(lines), "")


def detach(cmd: Command, *, env: Mapping[str, str], keep: int) -> None:
    """Start a command that outlives this process, logged but never waited for.

    In a session of its own (a Ctrl-C meant for the task does not reach it), with no terminal
    and no pipe of ours (a reader of the task's output is not kept waiting for it to end), and
    with the file descriptor `keep` open (a lock it holds until it ends).
    """
    echo(cmd)
    try:
        subprocess.Popen(
            [str(part) for part in cmd],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(keep,),
        )
    except FileNotFoundError as exc:
        raise CommandError(f"{cmd[0]} not found", "install it or put it on PATH") from exc


def _failed_itself(process: subprocess.Popen) -> bool:
    """Whether a command whose output its reader could not take has failed on its own.

    A command cut short ends at once; one still streaming (the reader broke) is given half a
    second, then taken as working.
    """
    try:
        return process.wait(timeout=0.5) != 0
    except subprocess.TimeoutExpired:
        return False


def _title(cmd: Command) -> str:
    """A command as a person names it: `docker build`, `mmdebstrap`, `uv pip`."""
    verb = next((str(word) for word in cmd[1:2] if str(word).isalpha()), "")
    return f"{Path(str(cmd[0])).name} {verb}".strip()


class Activity:
    """A transient line in the terminal: a spinner or a bar, the time taken, the latest news."""

    def __init__(self, progress, task) -> None:
        self._progress, self._task = progress, task

    def note(self, text: str) -> None:
        """Show `text` as the latest news (cut to the terminal's width by rich), at once."""
        self._progress.update(self._task, news=text, refresh=True)

    def advance(self, amount: int) -> None:
        """Count `amount` more of the total (bytes, say)."""
        self._progress.update(self._task, advance=amount)


@contextlib.contextmanager
def activity(title: str, total: int | None = None) -> Iterator[Activity | None]:
    """An `Activity` while the block runs, in a terminal; None in a pipe, a log, or verbose."""
    if verbose() or not sys.stderr.isatty():
        yield None
        return
    try:
        from rich import progress as bars  # DVC's own UI library, in every environment it is
    except ImportError:  # toolchain.py, run before any environment is installed
        yield None
        return
    columns = [bars.SpinnerColumn(), bars.TextColumn("{task.description}")]
    if total is not None:
        columns += [bars.BarColumn(), bars.DownloadColumn(), bars.TransferSpeedColumn()]
    columns += [bars.TimeElapsedColumn(), bars.TextColumn("[dim]{task.fields[news]}")]
    display = bars.Progress(*columns, transient=True, console=_console())
    with display:
        yield Activity(display, display.add_task(title, total=total, news=""))


def _console():
    from rich.console import Console

    return Console(stderr=True)


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


def write_to(
    cmd: Command,
    produce: Callable[[IO[bytes]], None],
    *,
    env=None,
    progress: tuple[str, int] | None = None,
) -> None:
    """Run a command, letting `produce` write its standard input as a binary stream.

    Args:
        cmd: the program and its arguments.
        produce: writes the input.
        env: variables added to the current environment.
        progress: what is being written and how many bytes, for a progress bar in a terminal.

    Raises:
        CommandError: the command failed (its last line of stderr), or was not found.
    """
    title, total = progress or (_title(cmd), None)
    with activity(title, total) as bar:
        _piped(cmd, env, stdin=produce if bar is None else _counted(produce, bar))


def _counted(produce: Callable[[IO[bytes]], None], bar: Activity) -> Callable[[IO[bytes]], None]:
    """`produce`, with every byte it writes counted on `bar`."""

    class Counted:
        def __init__(self, stream: IO[bytes]) -> None:
            self.stream = stream

        def write(self, data: bytes) -> int:
            bar.advance(len(data))
            return self.stream.write(data)

        def __getattr__(self, name: str):
            return getattr(self.stream, name)  # flush, close: the stream's own

    return lambda stream: produce(Counted(stream))


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
    except Exception:
        if not _failed_itself(process):
            process.kill()
            process.wait()
            raise
        # A stream cut short (`docker save` whose engine went away): the reader's error is only
        # what followed; the command's own exit code and stderr say why.
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        errors = process.stderr.read().decode(errors="replace")
        process.wait()
    _logged(errors)
    _checked(
        cmd, subprocess.CompletedProcess(args, process.returncode, "", errors), True, shown=False
    )
    return result
