"""The one subprocess helper: echo, capture, tee, and failures as one-line errors."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from lockstep import shell
from lockstep.errors import CommandError

PYTHON = sys.executable


def test_a_command_is_echoed_as_a_user_would_type_it(capsys) -> None:
    shell.run(["true", "two words"])
    assert capsys.readouterr().err == "$ true 'two words'\n"


def test_quiet_probes_are_not_echoed(capsys) -> None:
    assert shell.output([PYTHON, "-c", "print(' 42 ')"]) == "42"
    assert capsys.readouterr().err == ""


def test_progress_goes_to_stderr_with_the_kit_prefix(capsys) -> None:
    shell.say("base: loaded")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "lockstep: base: loaded\n")


def test_env_adds_to_the_environment_and_cwd_is_honoured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KEPT", "yes")
    script = "import os; print(os.environ['KEPT'], os.environ['ADDED'], os.getcwd())"
    printed = shell.output([PYTHON, "-c", script], env={"ADDED": "too"}, cwd=tmp_path)
    assert printed == f"yes too {tmp_path}"


def test_a_failure_names_the_program_and_its_last_line(capsys) -> None:
    script = "import sys; print('first'); sys.exit('the real cause')"
    with pytest.raises(CommandError) as caught:
        shell.run([PYTHON, "-c", script], capture=True)
    error = caught.value
    assert error.message == f"{Path(PYTHON).name} failed: the real cause"
    assert error.returncode == 1
    assert "first" in error.log and "the real cause" in error.log


def test_a_refusal_names_its_reason_not_the_usage_pointer_after_it() -> None:
    script = (
        "import sys; sys.stderr.write('docker: Error response from daemon: no such image.\\n"
        "See \\'docker run --help\\'.\\n'); sys.exit(125)"
    )
    with pytest.raises(CommandError) as caught:
        shell.run([PYTHON, "-c", script], capture=True)
    assert caught.value.message.endswith(
        "failed: docker: Error response from daemon: no such image."
    )


def test_check_false_returns_the_failed_process() -> None:
    proc = shell.run([PYTHON, "-c", "raise SystemExit(3)"], check=False, quiet=True)
    assert proc.returncode == 3


def test_a_missing_program_says_to_install_it() -> None:
    with pytest.raises(CommandError, match="no-such-program-xyz not found; install it"):
        shell.run(["no-such-program-xyz"], quiet=True)
    with pytest.raises(CommandError, match="not found"):
        shell.run(["no-such-program-xyz"], quiet=True, tee=True)


def test_tee_streams_merged_output_and_keeps_it(capsys) -> None:
    script = "import sys; print('out', flush=True); print('err', file=sys.stderr)"
    proc = shell.run([PYTHON, "-c", script], tee=True, quiet=True, input="")
    assert proc.stdout.splitlines() == ["out", "err"]
    assert capsys.readouterr().err.splitlines() == ["out", "err"]


def test_input_reaches_standard_input() -> None:
    script = "import sys; print(sys.stdin.read().upper())"
    assert shell.output([PYTHON, "-c", script], input="abc") == "ABC"
    teed = shell.run([PYTHON, "-c", script], tee=True, quiet=True, input="def")
    assert teed.stdout == "DEF\n"


def test_read_from_hands_the_output_over_as_a_binary_stream():
    assert shell.read_from(["printf", "a\\0b"], lambda stream: stream.read()) == b"a\0b"


def test_write_to_feeds_standard_input(tmp_path):
    target = tmp_path / "out"
    shell.write_to(["sh", "-c", f"cat > {target}"], lambda stdin: stdin.write(b"x" * 100_000))
    assert target.read_bytes() == b"x" * 100_000


def test_a_piped_command_that_fails_early_reports_its_own_error():
    def produce(stdin):
        for _ in range(1000):
            stdin.write(b"y" * 65536)

    with pytest.raises(CommandError, match="sh failed: refused the input"):
        shell.write_to(["sh", "-c", "echo refused the input >&2; exit 3"], produce)


def test_a_stream_cut_short_by_its_command_s_failure_reports_that_failure():
    # `docker save` whose engine went away: the tar reader's error only follows from it.
    def consume(stream):
        raise EOFError(f"a stream of {len(stream.read())} bytes is cut short")

    with pytest.raises(CommandError, match="sh failed: unexpected EOF"):
        shell.read_from(["sh", "-c", "printf partial; echo unexpected EOF >&2; exit 1"], consume)


def test_a_stream_reader_that_fails_leaves_no_process_behind():
    def consume(stream):
        stream.read(1)
        raise ValueError("reader broke")

    with pytest.raises(ValueError, match="reader broke"):
        shell.read_from(["yes"], consume)


# With a log (every task starts one): one line per step on the terminal, everything in the log.


@pytest.fixture
def logged(tmp_path: Path, monkeypatch) -> Path:
    """A log started in tmp_path/logs, as a task starts one; closed and forgotten after."""
    monkeypatch.delenv(shell.LOG_VARIABLE, raising=False)
    monkeypatch.delenv(shell.VERBOSE_VARIABLE, raising=False)
    monkeypatch.setattr(shell, "_log", None)  # and back to None after the test
    path = shell.start_log(tmp_path / "logs")
    yield path
    shell._log.close()


def test_a_logged_command_and_its_output_go_to_the_log_only(logged: Path, capsys) -> None:
    shell.say("step one")
    shell.run([PYTHON, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert capsys.readouterr().err == "lockstep: step one\n"
    lines = logged.read_text().splitlines()
    assert lines[0] == "lockstep: step one"
    assert lines[1].startswith(f"$ {PYTHON} -c ")
    assert lines[2:] == ["out", "err"]


def test_what_the_user_asked_for_is_shown_and_logged(logged: Path, capsys) -> None:
    shell.run([PYTHON, "-c", "print('Running stage')"], show=True)
    assert capsys.readouterr().err == "Running stage\n"
    assert logged.read_text().splitlines()[1:] == ["Running stage"]


def test_verbose_shows_every_command_and_its_output(logged: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(shell.VERBOSE_VARIABLE, "1")
    shell.run(["echo", "hello"])
    assert capsys.readouterr().err == "$ echo hello\nhello\n"
    assert logged.read_text() == "$ echo hello\nhello\n"


def test_a_hidden_failure_names_its_last_line_and_the_log(logged: Path) -> None:
    script = "import sys; print('downloading'); sys.exit('the mirror is gone')"
    with pytest.raises(CommandError) as caught:
        shell.run([PYTHON, "-c", script])
    assert caught.value.message.endswith("failed: the mirror is gone")
    assert caught.value.hint == f"see its output in {logged}"
    assert "downloading" in logged.read_text()
    with pytest.raises(CommandError):
        shell.run([PYTHON, "-c", script], capture=True)
    # A captured failure's output is kept too.
    assert logged.read_text().splitlines().count("the mirror is gone") == 2


def test_the_processes_of_one_task_write_one_log(logged: Path, tmp_path: Path) -> None:
    assert os.environ[shell.LOG_VARIABLE] == str(logged)
    script = (
        "import sys, pathlib; from lockstep import shell; "
        "print(shell.start_log(pathlib.Path(sys.argv[1])))"
    )
    same = shell.output([PYTHON, "-c", script, str(logged.parent)])
    other = shell.output([PYTHON, "-c", script, str(tmp_path / "another" / "logs")])
    assert same == str(logged)
    assert Path(other).parent == tmp_path / "another" / "logs"


def test_old_logs_are_pruned(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    for number in range(shell.LOGS_KEPT + 5):
        (folder / f"20260101-{number:06d}-1.log").write_text("old\n")
    monkeypatch.delenv(shell.LOG_VARIABLE, raising=False)
    monkeypatch.setattr(shell, "_log", None)
    path = shell.start_log(folder)
    shell._log.close()
    kept = sorted(folder.iterdir())
    assert len(kept) == shell.LOGS_KEPT + 1 and path in kept
    assert folder / "20260101-000000-1.log" not in kept


# What a person sees: a transient line while a hidden command works, a bar while bytes move; in
# a pipe only the steps. The task's log holds everything either way.
TASK = """
import sys
from pathlib import Path
from lockstep import shell
shell.start_log(Path(sys.argv[1]))
shell.say("step")
shell.run(["sh", "-c", "echo fetching the mirror; sleep 0.6; echo fetched"])
chunks = lambda stream: [stream.write(b"x" * 65536) for _ in range(64)]
shell.write_to(["sh", "-c", "cat >/dev/null; sleep 0.4"], chunks, progress=("loading", 64 * 65536))
"""


def run_task(tmp_path: Path, terminal: bool) -> tuple[str, str]:
    """TASK's terminal output (in a pseudo-terminal, or a pipe) and its log."""
    logs = tmp_path / ("tty" if terminal else "pipe")
    env = {
        k: v for k, v in os.environ.items() if k not in (shell.LOG_VARIABLE, shell.VERBOSE_VARIABLE)
    }
    env["TERM"] = "xterm-256color"
    if not terminal:
        proc = subprocess.run([PYTHON, "-c", TASK, logs], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr, next(logs.iterdir()).read_text()
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [PYTHON, "-c", TASK, logs], env=env, stdout=follower, stderr=follower
    ) as proc:
        os.close(follower)
        seen = b""
        while chunk := _read(leader):
            seen += chunk
    os.close(leader)
    assert proc.returncode == 0, seen.decode(errors="replace")
    return seen.decode(errors="replace"), next(logs.iterdir()).read_text()


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the follower closed: Linux says EIO
        return b""


def test_a_terminal_sees_the_hidden_work_move(tmp_path: Path) -> None:
    seen, log = run_task(tmp_path, terminal=True)
    assert "lockstep: step" in seen
    assert "sh" in seen and "fetching the mirror" in seen  # the transient line's latest news
    assert "loading" in seen and "━" in seen  # the bar, as rich draws it
    assert "fetched\n" in log and "$ sh -c 'cat >/dev/null; sleep 0.4'" in log


def test_a_pipe_gets_plain_steps_and_the_same_log(tmp_path: Path) -> None:
    seen, log = run_task(tmp_path, terminal=False)
    assert seen == "lockstep: step\n"
    assert log.splitlines() == [
        "lockstep: step",
        "$ sh -c 'echo fetching the mirror; sleep 0.6; echo fetched'",
        "fetching the mirror",
        "fetched",
        "$ sh -c 'cat >/dev/null; sleep 0.4'",
    ]


def test_where_no_log_can_be_written_everything_goes_to_the_terminal(
    tmp_path: Path, monkeypatch, capfd
) -> None:
    monkeypatch.delenv(shell.LOG_VARIABLE, raising=False)
    monkeypatch.setattr(shell, "_log", None)
    (tmp_path / "logs").write_text("a file where the folder would be\n")
    assert shell.start_log(tmp_path / "logs") is None
    shell.run(["echo", "shown"])
    assert capfd.readouterr() == ("shown\n", "$ echo shown\n")
