"""`build --check` names the first file that differs between two builds' layers."""

from __future__ import annotations

import io
import tarfile

from lockstep.images import reproducible


def layer(path, files: dict[str, bytes], mtime: int = 0) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_first_differing_file_is_named_with_what_differs(tmp_path):
    first = layer(tmp_path / "a.tar", {"opt/a.py": b"x", "opt/b.py": b"same", "opt/c.py": b"1"})
    second = layer(tmp_path / "b.tar", {"opt/a.py": b"x", "opt/b.py": b"same", "opt/c.py": b"2"})
    assert reproducible._first_member_difference(first, second).startswith(
        "/opt/c.py differs in its content"
    )


def test_a_file_in_one_build_only_and_a_time_are_named(tmp_path):
    first = layer(tmp_path / "a.tar", {"opt/a.py": b"x"})
    second = layer(tmp_path / "b.tar", {"opt/a.py": b"x", "opt/new.py": b""})
    assert reproducible._first_member_difference(first, second) == (
        "/opt/new.py is only in the second build"
    )
    later = layer(tmp_path / "c.tar", {"opt/a.py": b"x"}, mtime=5)
    assert reproducible._first_member_difference(first, later).startswith(
        "/opt/a.py differs in its modification time (0 and 5)"
    )
