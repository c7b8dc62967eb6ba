"""Layer tars depend on the files alone: not on the clock, the order made, the owner or umask."""

from __future__ import annotations

import io
import os
import tarfile
import time

from lockstep.images import tars

EPOCH = 1700000000


def tree(root, umask_bits: int = 0) -> dict:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "sub" / "data.txt").write_text("data\n")
    (root / "run").write_text("#!/bin/sh\n")
    os.chmod(root / "run", 0o775 & ~umask_bits)
    os.chmod(root / "pkg" / "__init__.py", 0o664 & ~umask_bits)
    os.symlink("pkg/sub/data.txt", root / "link")
    return {
        f"opt/venv/{path.relative_to(root)}": path
        for path in sorted(root.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def written(files: dict, **options) -> bytes:
    out = io.BytesIO()
    result = tars.write(out, tars.from_files(files, **options), EPOCH)
    assert result.size == len(out.getvalue())
    return out.getvalue()


def test_the_same_files_give_the_same_bytes_whenever_and_in_whatever_order_made(tmp_path):
    first = tree(tmp_path / "a")
    time.sleep(1.1)
    second = tree(tmp_path / "b")
    assert written(first) == written(dict(reversed(list(second.items()))))


def test_members_are_sorted_parents_first_with_fixed_times_and_numeric_owners(tmp_path):
    data = written(tree(tmp_path))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names[:3] == ["opt", "opt/venv", "opt/venv/link"]
    assert names.index("opt/venv/pkg") < names.index("opt/venv/pkg/__init__.py")
    assert all(m.mtime == EPOCH and m.uid == m.gid == 0 and not m.uname for m in members)
    assert {m.name: m.mode for m in members if m.isdir()}["opt/venv/pkg"] == 0o755
    link = next(m for m in members if m.name == "opt/venv/link")
    assert link.issym() and link.linkname == "pkg/sub/data.txt"


def test_normal_modes_make_a_checkout_the_same_under_any_umask(tmp_path):
    loose = written(tree(tmp_path / "a"), normal_modes=True)
    strict = written(tree(tmp_path / "b", umask_bits=0o022), normal_modes=True)
    assert loose == strict
    assert written(tree(tmp_path / "c")) != written(tree(tmp_path / "d", umask_bits=0o022))


def test_a_tar_another_tool_wrote_is_rewritten_the_same_however_it_was_written(tmp_path):
    def foreign(mtime: int, order: list[str]) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name in order:
                info = tarfile.TarInfo(name)
                info.mtime, info.uname, info.size = mtime, "builder", 3
                tar.addfile(info, io.BytesIO(b"abc"))
        out.seek(0)
        return out

    layers = [
        written_from(foreign(mtime, order))
        for mtime, order in [
            (EPOCH + 5, ["etc/passwd", "etc/group"]),
            (EPOCH + 99, ["etc/group", "etc/passwd"]),
        ]
    ]
    assert layers[0] == layers[1]


def written_from(stream) -> bytes:
    out = io.BytesIO()
    tars.write(out, tars.from_tar(stream), EPOCH)
    return out.getvalue()


def test_a_copier_replays_a_written_layer(tmp_path):
    path = tmp_path / "layer.tar"
    with path.open("wb") as out:
        result = tars.write(out, tars.from_files(tree(tmp_path / "t")), EPOCH)
    copy = io.BytesIO()
    assert tars.copier(path, result)(copy) == result
    assert copy.getvalue() == path.read_bytes()
