"""Exported requirements and who owns which installed file."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from lockstep.errors import BuildError
from lockstep.images import packages

EXPORTED = """\
numpy==2.4.6 ; python_version >= "3.11" and python_version < "3.14" \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
Scikit_Learn==1.9.1 ; python_version >= "3.11" \\
    --hash=sha256:cccc
"""


def test_exported_entries_are_split_per_distribution_with_their_hashes():
    found = packages.parse(EXPORTED)
    assert [(r.name, r.version) for r in found] == [("numpy", "2.4.6"), ("scikit-learn", "1.9.1")]
    assert found[0].entry.endswith("--hash=sha256:bbbb")
    assert "cccc" in found[1].entry and "aaaa" not in found[1].entry


def test_a_requirement_without_one_exact_version_is_refused():
    with pytest.raises(BuildError, match="does not pin one version"):
        packages.parse("numpy>=2\n")


def test_a_tree_key_changes_with_the_entry_and_with_the_image():
    numpy, sklearn = packages.parse(EXPORTED)
    assert packages.key(numpy, "a") != packages.key(sklearn, "a")
    assert packages.key(numpy, "a") != packages.key(numpy, "b")


def installed_venv(root):
    site = root / "lib" / "python3.11" / "site-packages"
    (site / "demo" / "__pycache__").mkdir(parents=True)
    (site / "demo" / "__init__.py").write_text("")
    (site / "demo" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"pyc")
    info = site / "demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Demo\nVersion: 1.0\n")
    (root / "bin").mkdir()
    (root / "bin" / "demo").write_text("#!/opt/venv/bin/python\n")
    (info / "RECORD").write_text(
        "demo/__init__.py,,\ndemo-1.0.dist-info/METADATA,,\n"
        "demo-1.0.dist-info/RECORD,,\n../../../bin/demo,,\n"
    )
    return root


def test_every_file_goes_to_the_distribution_whose_record_lists_it_bytecode_too(tmp_path):
    owners = packages._owners(installed_venv(tmp_path))
    assert sorted(owners["demo"]) == [
        "bin/demo",
        "lib/python3.11/site-packages/demo-1.0.dist-info/METADATA",
        "lib/python3.11/site-packages/demo-1.0.dist-info/RECORD",
        "lib/python3.11/site-packages/demo/__init__.py",
        "lib/python3.11/site-packages/demo/__pycache__/__init__.cpython-311.pyc",
    ]


def test_a_file_no_record_lists_stops_the_build(tmp_path):
    venv = installed_venv(tmp_path)
    (venv / "lib" / "python3.11" / "site-packages" / "stray.py").write_text("")
    with pytest.raises(BuildError, match=r"stray\.py, which no distribution's RECORD lists"):
        packages._owners(venv)


def test_two_builds_keeping_one_tree_at_once_share_one_whole_copy(tmp_path):
    """The cache is the user's, shared by every project and clone: each tree is made apart
    and renamed into place, so two builds keeping the same one leave one whole copy."""
    cache, (requirement,) = (
        tmp_path / "cache",
        packages.parse("demo==1.0 \\\n    --hash=sha256:dd\n"),
    )
    (cache / "tmp").mkdir(parents=True)
    (cache / "packages").mkdir()
    venvs = [installed_venv(tmp_path / name) for name in ("one", "two")]
    files = packages._owners(venvs[0])["demo"]
    together = threading.Barrier(len(venvs))

    def keep(venv):
        together.wait()
        return packages._keep(cache, venv, requirement, files, "salt")

    with ThreadPoolExecutor(len(venvs)) as pool:
        kept = list(pool.map(keep, venvs))

    assert kept[0] == kept[1] == packages.cached(cache, requirement, "salt")
    assert sorted(kept[0].paths()) == sorted(f"{packages.VENV}/{name}" for name in files)
    assert list((cache / "tmp").iterdir()) == []  # the second copy went, nothing half-made
