"""The base image ladder, hermetically: Debian repositories the tests build themselves.

Two local repositories are made with reprepro (Debian's own tool) from the session base's
`.deb` files: `a`, and `b`, where one package is repacked with a higher version, as a security
update would publish it. The kit is pointed at them with its `mirrors` and `snapshot_mirrors`
settings, and at an address where nothing answers when no mirror may be used. No test here
passes or fails because of what a live mirror holds today.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from lockstep import config, paths
from lockstep.errors import BaseImageError
from lockstep.images import base, builder, debs, manifest, oci, prefetch, rootfs, store
from lockstep.images.manifest import Manifest

from tests.support import commands, projects

pytestmark = pytest.mark.docker

SUITE = "bookworm"
# Any package of the base would do; this is the one Debian updated on 2026-11-30.
BUMPED = "libzstd1"
# Not the project's epoch: the images made here are the tests' own, removed at the end.
EPOCH = 1700000123
SNAPSHOT = "20261128T000000Z"
# The discard port: nothing answers there, so a rung that needs a mirror fails at once.
UNREACHABLE = "http://127.0.0.1:9/debian"
MANIFEST = "docker/base/packages.lock"


def reprepro(repo: Path, *debs_files: Path, required: Iterable[str] = ()) -> None:
    """Add `.deb` files to a reprepro repository (a newer version replaces the older).

    A package's priority in a Debian archive comes from the archive's override file, not from
    the package (apt's own says `important`; the archive makes it `required`), and minbase
    installs the `required` ones: the override here makes it the base's packages.
    """
    conf = repo / "conf"
    if not conf.exists():
        arch = subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        ).stdout.strip()
        conf.mkdir(parents=True)
        fields = {
            "Codename": SUITE,
            "Suite": SUITE,
            "Components": "main",
            "Architectures": arch,
            "DebOverride": "override",
        }
        (conf / "distributions").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
        (conf / "override").write_text("".join(f"{name} Priority required\n" for name in required))
    proc = subprocess.run(
        ["reprepro", "--silent", "-b", str(repo), "includedeb", SUITE, *map(str, debs_files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"reprepro failed (apt-get install reprepro?):\n{proc.stderr}"


def repack_with_higher_version(deb: Path, folder: Path) -> tuple[Path, str]:
    """The same package with `+lockstep1` appended to its version; returns (file, version)."""
    tree = folder / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    old = re.search(r"(?m)^Version: (.+)$", control.read_text()).group(1)
    new = old + "+lockstep1"
    control.write_text(control.read_text().replace(f"Version: {old}\n", f"Version: {new}\n"))
    out = folder / deb.name.replace(old.replace(":", "%3a"), new)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return out, new


@pytest.fixture(scope="module")
def mirrors(kit, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """Mirror `a` (the base's packages), `b` (BUMPED newer), and a snapshot service, served
    on loopback the way a mirror is."""
    folder = tmp_path_factory.mktemp("mirrors")
    fetched = kit.debs()
    packages = debs.versions(fetched)
    everything = sorted(fetched.glob("*.deb")) + sorted((fetched / "tools").glob("*.deb"))
    reprepro(folder / "a", *everything, required=packages)
    (bumped_deb,) = fetched.glob(f"{BUMPED}_*.deb")
    repacked, version = repack_with_higher_version(bumped_deb, folder)
    shutil.copytree(folder / "a", folder / "b")
    reprepro(folder / "b", repacked)
    # A snapshot service keeps every date; this one has one: the day `a` was published.
    (folder / "snapshots").mkdir()
    (folder / "snapshots" / SNAPSHOT).symlink_to(folder / "a")
    port = commands.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    commands.wait_for(f"{url}/a/dists/{SUITE}/Release")
    try:
        yield SimpleNamespace(
            a=f"deb [trusted=yes] {url}/a {SUITE} main",
            b=f"deb [trusted=yes] {url}/b {SUITE} main",
            snapshot=f"deb [trusted=yes] {url}/snapshots/{{snapshot}} {SUITE} main",
            packages=packages,
            bumped=(BUMPED, packages[BUMPED], version),
            repacked=repacked,
        )
    finally:
        server.terminate()
        server.wait()


def configure(root: Path, **settings: object) -> config.Settings:
    """Set [tool.lockstep.base] keys in a copy's pyproject.toml (strings, numbers, lists)."""
    path = root / "pyproject.toml"
    text = path.read_text()
    for key, value in {"epoch": EPOCH, **settings}.items():
        text = re.sub(rf"(?m)^{key} = .*\n", "", text)
        # JSON strings, integers and arrays of strings are TOML too.
        line = f"{key} = {json.dumps(value)}\n"
        text = text.replace("[tool.lockstep.base]\n", f"[tool.lockstep.base]\n{line}")
    path.write_text(text)
    return config.load(root)


def fresh(kit, name: str, recorded: Manifest | None, **settings: object) -> config.Settings:
    """A copy with no archived `.deb` files and the given manifest (none: no manifest yet)."""
    root = kit.copy(name)
    (root / f"{debs.FOLDER}.dvc").unlink(missing_ok=True)
    (root / MANIFEST).unlink()
    if recorded:
        recorded.write(root / MANIFEST)
    return configure(root, **settings)


def obtain(settings, engine, capfd, **kwargs) -> tuple[base.Base, str]:
    found = builder.resolve_base(settings, engine, **kwargs)
    return found, capfd.readouterr().err


@pytest.fixture(scope="module")
def recorded(kit, mirrors) -> SimpleNamespace:
    """A project whose first build used repository `a`: its manifest, image and archive."""
    settings = fresh(kit, "base-ladder", None, mirrors=[mirrors.a])
    found = builder.resolve_base(settings, kit.engine)
    return SimpleNamespace(settings=settings, root=settings.root, base=found)


@pytest.fixture(scope="module", autouse=True)
def remove_test_images(kit):
    """The bases made here are created at EPOCH, the project's are not: remove them at the end."""
    yield
    created = oci.rfc3339(EPOCH).removesuffix("Z")
    listed = kit.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    for tag in listed:
        if tag.startswith(f"{base.IMAGE_NAME}:"):
            when = kit.docker("image", "inspect", "--format", "{{.Created}}", tag).stdout
            if when.startswith(created):
                kit.remove_images(tag)


def test_a_first_build_records_packages_image_id_and_archives_the_debs(kit, recorded, mirrors):
    written = manifest.read(recorded.root / MANIFEST)
    assert written.packages == mirrors.packages
    assert set(written.tools) == set(debs.TOOLS)
    assert written.image == recorded.base.id == kit.image_id(recorded.base.ref)
    assert recorded.base.source.startswith("rebuilt from the live mirror")
    # The .deb files are tracked by DVC and pushed: the remote has every one of them.
    assert (recorded.root / f"{debs.FOLDER}.dvc").is_file()
    status = kit.dvc(recorded.root, "status", "--cloud", f"{debs.FOLDER}.dvc").stdout
    assert "in sync" in status, status


def test_the_engine_rung_finds_the_recorded_image(kit, recorded, capfd):
    found, output = obtain(recorded.settings, kit.engine, capfd)
    assert found == dataclasses.replace(recorded.base, source="found in the engine")
    assert "base: found in the engine (exact)" in output
    assert "mmdebstrap" not in output


def test_archived_debs_rebuild_the_same_image_with_no_mirror(kit, recorded, capfd):
    root = recorded.root
    # A new machine: no .deb files in the workspace or the DVC cache, no mirror, and the
    # manifest's image id not in the engine (dropped from the record, so rung 1 cannot match).
    shutil.rmtree(root / debs.FOLDER)
    shutil.rmtree(root / ".dvc" / "cache")
    before = manifest.read(root / MANIFEST)
    dataclasses.replace(before, image="").write(root / MANIFEST)
    settings = configure(root, mirrors=[UNREACHABLE])

    found, output = obtain(settings, kit.engine, capfd)

    assert "base: rebuilt from the archived .deb files (exact)" in output, output
    assert found.id == recorded.base.id
    assert manifest.read(root / MANIFEST) == before


def test_a_snapshot_mirror_serves_the_recorded_versions(kit, recorded, mirrors, capfd):
    committed = dataclasses.replace(manifest.read(recorded.root / MANIFEST), image="")
    settings = fresh(
        kit,
        "base-snapshot",
        committed,
        mirrors=[UNREACHABLE],
        snapshot=SNAPSHOT,
        snapshot_mirrors=[mirrors.snapshot],
    )

    found, output = obtain(settings, kit.engine, capfd)

    used = mirrors.snapshot.replace("{snapshot}", SNAPSHOT)
    assert f"base: rebuilt from the snapshot {SNAPSHOT} ({used}) (exact)" in output, output
    assert found.id == recorded.base.id


def test_drift_proceeds_lists_each_change_and_records_the_new_manifest(
    kit, recorded, mirrors, capfd
):
    committed = manifest.read(recorded.root / MANIFEST)
    settings = fresh(
        kit, "base-drift", dataclasses.replace(committed, image=""), mirrors=[mirrors.b]
    )
    # As `./inv` does before it installs .venv: the live mirror's files, downloaded meanwhile.
    prefetch.start(settings.root)

    found, output = obtain(settings, kit.engine, capfd)

    assert "base: the .deb files were downloaded while the toolchain installed" in output, output
    assert "base: downloading" not in output
    assert not (settings.root / paths.PREFETCH).exists()

    name, old, new = mirrors.bumped
    assert found.changes == (f"{name} {old} -> {new}",)
    assert (
        f"base: rebuilt from the live mirror ({mirrors.b}), 1 Debian package differs from the "
        f"recorded versions: {name} {old} -> {new}"
    ) in output, output
    written = manifest.read(settings.root / MANIFEST)
    assert written.packages == {**committed.packages, name: new}
    assert written.image == found.id != recorded.base.id


def test_strict_refuses_the_drift_and_changes_nothing(kit, recorded, mirrors, tmp_path):
    committed_text = (recorded.root / MANIFEST).read_text()
    folder = tmp_path / "debs"
    shutil.copytree(recorded.root / debs.FOLDER, folder)
    name, old, new = mirrors.bumped
    next(folder.glob(f"{name}_*.deb")).unlink()
    shutil.copy(mirrors.repacked, folder)
    recipe = base.recipe(recorded.settings)

    with pytest.raises(BaseImageError) as caught:
        base.build(recipe, kit.engine, folder, manifest.read(recipe.manifest), "live", strict=True)

    assert caught.value.message == (
        f"the base image would differ from packages.lock: {name} {old} -> {new}"
    )
    assert "--strict" in caught.value.hint
    assert (recorded.root / MANIFEST).read_text() == committed_text


def test_root_and_an_ordinary_user_bootstrap_the_same_bytes(kit, ordinary_user):
    """The session's base was built by root (root mode); an ordinary user (unshare mode)
    bootstraps the same tarball from the same .deb files: the layer the image id names."""
    fetched = kit.debs()
    settings = config.load(kit.snapshot())
    recipe, recorded = base.recipe(settings), manifest.read(settings.path(MANIFEST))
    assert debs.versions(fetched) == dict(recorded.packages)
    layer = kit.docker(
        "image", "inspect", "--format", "{{index .RootFS.Layers 0}}", recorded.image
    ).stdout.strip()

    # pytest's temporary folders are root's alone: the user gets one of its own.
    scratch = Path(tempfile.mkdtemp(prefix="lockstep-it-user-", dir="/var/tmp"))
    kit.scratch.append(scratch)
    os.chown(scratch, ordinary_user.pw_uid, ordinary_user.pw_gid)
    as_user = scratch / "rootfs.tar"
    with debs.served(fetched, SUITE) as source:
        cmd = rootfs.bootstrap_command(recipe, recorded, as_user, source, unshare=True)
        proc = subprocess.run(
            cmd,
            cwd=scratch,
            env={
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": str(scratch),
                "SOURCE_DATE_EPOCH": str(recipe.epoch),
            },
            user=ordinary_user.pw_uid,
            group=ordinary_user.pw_gid,
            capture_output=True,
            text=True,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]

    if oci.sha256_file(as_user) != layer:
        # Say which files differ: root's layer, as the engine gives it back.
        saved = scratch / "image.tar"
        kit.docker("save", "--output", str(saved), recorded.image)
        with tarfile.open(saved) as image:
            (entry,) = json.loads(image.extractfile("manifest.json").read())
            (scratch / "root.tar").write_bytes(image.extractfile(entry["Layers"][0]).read())
        assert members(as_user) == members(scratch / "root.tar")
    assert oci.sha256_file(as_user) == layer


def members(tarball: Path) -> dict[str, tuple]:
    """Every member's metadata and content hash, by name: a readable diff when two differ."""
    found = {}
    with tarfile.open(tarball) as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else b""
            meta = (member.mode, member.uid, member.gid, member.mtime, member.type, member.linkname)
            found[member.name] = (*meta, hashlib.sha256(data).hexdigest())
    return found


def test_a_registry_serves_the_recorded_image(kit, recorded, registry, capfd):
    root = recorded.root
    tag = base.tag_for(base.recipe(recorded.settings), manifest.read(root / MANIFEST))
    pushed = f"{registry.address}/{tag}"
    kit.docker("tag", recorded.base.id, pushed)
    kit.docker("push", pushed)
    kit.docker("image", "rm", "--force", recorded.base.id)
    projects.set_registry(root, registry.address)

    found, output = obtain(config.load(root), kit.engine, capfd)

    assert f"base: pulled from the registry {registry.address} (exact)" in output, output
    assert found.id == recorded.base.id == kit.image_id(found.ref)


def test_the_dvc_remote_serves_the_recorded_image_archive(kit, recorded, capfd):
    root = recorded.root
    store.save(root, kit.engine, recorded.base.id)
    kit.docker("image", "rm", "--force", recorded.base.id)
    settings = dataclasses.replace(recorded.settings, registry="")

    found, output = obtain(settings, kit.engine, capfd)

    assert "base: no registry configured" in output
    assert "base: loaded from the DVC remote (exact)" in output, output
    assert found.id == recorded.base.id == kit.image_id(found.ref)
