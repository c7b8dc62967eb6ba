"""Atomic writes, and one line for the operating system's errors about files."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from lockstep import files
from lockstep.errors import BuildError, CommandError, DiskFullError

from tests.support import commands


def test_an_atomic_write_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    files.atomic_write(path, b"one")
    files.atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_previous_content(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "b.json"
    files.atomic_write(path, b"one")

    def full_disk(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        files.atomic_write(path, b"two")
    assert path.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]


def test_os_errors_read_as_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    owned = tmp_path / "lock"
    owned.write_text("")
    denied = PermissionError(errno.EACCES, "Permission denied", str(owned))
    line = files.describe_os_error(denied)
    assert line.startswith(f"Permission denied: {owned} (owned by uid {os.getuid()})")
    assert "sudo chown -R $USER ." in line
    full = OSError(errno.ENOSPC, "No space left on device", "reports/lineage.json")
    assert files.describe_os_error(full) == (
        "No space left on device: reports/lineage.json; free some disk space and run again "
        "(nothing was replaced)"
    )
    assert "\n" not in line


def test_the_exclusive_lock_waits_for_another_process_and_says_so(tmp_path: Path, capsys) -> None:
    path = tmp_path / "state" / "tool.lock"
    holder = commands.lock_holder(path)
    entered = threading.Event()

    def take() -> None:
        with files.exclusive(path, "waiting for the other one"):
            entered.set()

    taker = threading.Thread(target=take)
    taker.start()
    assert not entered.wait(1), "the lock was taken while another process held it"
    holder.communicate("go\n")
    taker.join(10)
    assert entered.is_set()
    assert capsys.readouterr().err == "lockstep: waiting for the other one\n"


def test_a_full_disk_in_a_block_is_one_line_naming_the_write_the_place_and_the_room(
    tmp_path: Path,
) -> None:
    images = tmp_path / "images"
    with (
        pytest.raises(DiskFullError) as caught,
        files.space_for("writing the image layout to", images, 3 * 2**20 + 1),
    ):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(caught.value) == (
        f"No space left on device while writing the image layout to {tmp_path / 'images'}; "
        "free some disk space (4 MB needed) and run again (nothing was replaced)"
    )


def test_a_command_that_ran_out_of_space_is_known_by_its_output() -> None:
    failed = CommandError("uv failed: exit code 2", log="error: ... No space left on device\n")
    with (
        pytest.raises(DiskFullError, match=r"while installing into \.venv; free some disk space "),
        files.space_for("installing into", ".venv"),
    ):
        try:
            raise failed
        except CommandError:
            # As the kit's wrappers do: a kinder error, from the command's.
            raise BuildError("installing failed", "read the lines above") from None


def test_other_errors_pass_and_the_inner_of_two_blocks_speaks() -> None:
    with pytest.raises(PermissionError), files.space_for("writing", "x"):
        raise PermissionError(errno.EACCES, "Permission denied")
    with (
        pytest.raises(DiskFullError, match="while loading into the engine"),
        files.space_for("writing", "x"),
        files.space_for("loading into", "the engine"),
    ):
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
