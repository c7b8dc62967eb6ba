"""The one subprocess helper: echo, capture, tee, and failures as one-line errors."""

from __future__ import annotations

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


def test_a_stream_reader_that_fails_leaves_no_process_behind():
    def consume(stream):
        stream.read(1)
        raise ValueError("reader broke")

    with pytest.raises(ValueError, match="reader broke"):
        shell.read_from(["yes"], consume)
