"""The base manifest: its file format, changes between two manifests, and the drift summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from lockstep.errors import BaseImageError
from lockstep.images import manifest
from lockstep.images.manifest import Manifest

RECORDED = Manifest(
    "bookworm",
    {"libc6": "2.36-9", "adduser": "3.134"},
    {"git": "1:2.39.5-0+deb12u3"},
    "sha256:" + "a" * 64,
)


def test_round_trip_is_byte_stable(tmp_path: Path) -> None:
    text = RECORDED.render()
    assert text.splitlines()[2:] == [
        "# suite: bookworm",
        f"# image: sha256:{'a' * 64}",
        "adduser=3.134",
        "libc6=2.36-9",
        manifest.TOOLS_HEADER,
        "git=1:2.39.5-0+deb12u3",
    ]
    assert manifest.parse(text, "x") == RECORDED
    path = tmp_path / "docker" / "base" / "packages.lock"
    RECORDED.write(path)
    assert manifest.read(path) == RECORDED
    assert path.read_text() == text


def test_writing_an_equal_manifest_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "packages.lock"
    RECORDED.write(path)
    path.chmod(0o444)  # a rewrite would replace the file; an untouched one keeps its mode
    RECORDED.write(path)
    assert path.stat().st_mode & 0o777 == 0o444


def test_a_missing_manifest_reads_as_none(tmp_path: Path) -> None:
    assert manifest.read(tmp_path / "packages.lock") is None


def test_a_manifest_without_an_image_or_tools_parses() -> None:
    # The format before image ids were recorded.
    text = "# Debian packages in the lockstep base image\n# suite: bookworm\nlibc6=2.36-9\n"
    assert manifest.parse(text, "x") == Manifest("bookworm", {"libc6": "2.36-9"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# suite: bookworm\nlibc6 2.36\n", "line 2 is not `name=version`"),
        ("# suite: bookworm\n=2.36\n", "line 2 is not `name=version`"),
        ("libc6=2.36\n", "has no `# suite:` line"),
    ],
)
def test_a_malformed_manifest_names_the_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(BaseImageError, match=r"packages\.lock") as caught:
        manifest.parse(text, "docker/base/packages.lock")
    assert problem in caught.value.message
    assert caught.value.hint


def test_changes_list_each_package_once() -> None:
    old = Manifest("bookworm", {"libc6": "2.36-9", "oldpkg": "1", "same": "1"})
    new = Manifest("bookworm", {"libc6": "2.36-10", "newpkg": "2", "same": "1"})
    assert new.changes_from(old) == ["libc6 2.36-9 -> 2.36-10", "+newpkg 2", "-oldpkg 1"]
    assert old.changes_from(old) == []
    assert Manifest("trixie", old.packages).changes_from(old) == ["suite bookworm -> trixie"]


def test_tools_and_the_image_id_are_not_package_changes() -> None:
    other = Manifest("bookworm", RECORDED.packages, {"git": "2"}, "sha256:" + "b" * 64)
    assert other.changes_from(RECORDED) == []
    assert other.key() == RECORDED.key()


def test_pins_are_sorted_name_version_pairs() -> None:
    assert RECORDED.pins() == ["adduser=3.134", "libc6=2.36-9"]


def test_summaries_cut_long_lists_short() -> None:
    changes = [f"+pkg{i:02} 1" for i in range(20)]
    assert manifest.summarise(changes).endswith("+pkg11 1, and 8 more")
    assert manifest.describe_drift([]) == "as recorded"
    assert manifest.describe_drift(changes[:1]) == (
        "1 Debian package differs from the recorded versions"
    )
    assert manifest.describe_drift(changes) == (
        "20 Debian packages differ from the recorded versions"
    )
