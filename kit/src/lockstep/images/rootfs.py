"""The base image's root filesystem: mmdebstrap, from `.deb` files only, reproducibly.

Every package is installed at the version its `.deb` file has, from a local apt repository
(`lockstep.images.debs`), with SOURCE_DATE_EPOCH set and the few files that would differ between
machines or between root and an ordinary user removed or rewritten by hooks. The same files and
recipe give the same tarball, byte for byte.
"""

from __future__ import annotations

import os
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path

from lockstep.errors import BaseImageError
from lockstep.images import debs
from lockstep.images.manifest import Manifest

# mmdebstrap copies the host's /etc/hostname and /etc/resolv.conf into the tree, which would make
# the image differ between machines. Docker mounts its own over both at run and build time.
HOST_FILES_HOOK = 'rm -f "$1/etc/hostname" "$1/etc/resolv.conf"'
# python3's postinst byte-compiles a few modules: with hash-based pycs when SOURCE_DATE_EPOCH
# reaches it (as root), with timestamp-based ones when it does not (mmdebstrap's unshare mode).
# Recompiling those with checked hashes makes root's and an ordinary user's images identical.
PYC_HOOK = """
import os, py_compile
for folder, _, names in os.walk("/usr"):
    if os.path.basename(folder) != "__pycache__":
        continue
    for name in names:
        pyc = os.path.join(folder, name)
        with open(pyc, "rb") as handle:
            flags = int.from_bytes(handle.read(8)[4:8], "little")
        source = os.path.join(os.path.dirname(folder), name.split(".")[0] + ".py")
        if flags == 0 and os.path.exists(source):
            py_compile.compile(source, cfile=pyc, dfile=source, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
"""
# The image holds no apt sources: where its packages came from is a fact of the build machine,
# and every package it needs is in the recipe. This note replaces the build's temporary source.
SOURCES_NOTE = (
    "# lockstep base image: its packages come from the .deb files recorded in\n"
    "# docker/base/packages.lock; add a package with [tool.lockstep.base] packages.\n"
)
_STATUS_PATH = "var/lib/dpkg/status"


@dataclass(frozen=True)
class BaseRecipe:
    """What goes into the base image, and where its packages may come from.

    Attributes:
        suite: Debian suite, e.g. "bookworm".
        packages: packages installed on top of minbase, e.g. ("python3", "ca-certificates").
        manifest: the committed manifest, e.g. <root>/docker/base/packages.lock.
        epoch: SOURCE_DATE_EPOCH for the bootstrap and the image's `created` time.
        mirrors: apt sources for the live mirror; empty means apt's configured defaults.
        snapshot: a Debian snapshot timestamp (e.g. "20261128T000000Z"), or "".
        snapshot_mirrors: apt sources with `{snapshot}` where the timestamp goes.
    """

    suite: str
    packages: tuple[str, ...]
    manifest: Path
    epoch: int
    mirrors: tuple[str, ...] = ()
    snapshot: str = ""
    snapshot_mirrors: tuple[str, ...] = ()


def bootstrap(recipe: BaseRecipe, folder: Path, packages: Manifest, rootfs: Path) -> None:
    """Write the root filesystem tarball from the `.deb` files in `folder`.

    Raises:
        BaseImageError: mmdebstrap is missing or failed.
    """
    with debs.served(folder, recipe.suite) as source:
        cmd = bootstrap_command(recipe, packages, rootfs, source, unshare=os.geteuid() != 0)
        debs.run_mmdebstrap(cmd, recipe.epoch)


def bootstrap_command(
    recipe: BaseRecipe, packages: Manifest, rootfs: Path, source: str, *, unshare: bool
) -> list[str]:
    """The mmdebstrap command that bootstraps `packages` from the apt `source` into `rootfs`.

    Every package is named with its version, so apt has nothing to choose; apt's auto-installed
    marks are then set by rule (all but the recipe's packages), as a live bootstrap would leave
    them, whatever the order apt installed them in. Run it with SOURCE_DATE_EPOCH set.

    Args:
        recipe: the suite and the packages asked for.
        packages: every package to install, with its version.
        rootfs: the tarball to write.
        source: the apt sources line of a repository holding exactly those packages.
        unshare: run without root, in a user namespace (the user's /etc/subuid entry).
    """
    auto = sorted(set(packages.packages) - set(recipe.packages))
    cmd = debs.mmdebstrap(
        "--include=" + ",".join(packages.pins()),
        # The .deb files are served, not copied in: there is nothing to unlink.
        "--skip=essential/unlink",
        "--customize-hook=" + HOST_FILES_HOOK,
        f'--customize-hook=chroot "$1" apt-mark auto {shlex.join(auto)} >/dev/null',
        '--customize-hook=if [ -x "$1/usr/bin/python3" ]; then chroot "$1" python3 -c '
        + shlex.quote(PYC_HOOK)
        + "; fi",
        f'--customize-hook=printf %s {shlex.quote(SOURCES_NOTE)} > "$1/etc/apt/sources.list"',
    )
    if unshare:
        cmd.append("--mode=unshare")
    return [*cmd, recipe.suite, str(rootfs), source]


def installed_packages(rootfs: Path) -> dict[str, str]:
    """Installed package versions, read from dpkg's status file inside a rootfs tarball."""
    with tarfile.open(rootfs, "r:") as tar:
        for member in tar:
            if member.name.removeprefix("./") == _STATUS_PATH and member.isfile():
                status = tar.extractfile(member)
                assert status is not None  # a regular file always has content
                return parse_dpkg_status(status.read().decode("utf-8"))
    raise BaseImageError(f"{rootfs} has no {_STATUS_PATH}", "the bootstrap did not install dpkg")


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Map package name to version for every fully installed package in a dpkg status file."""
    packages: dict[str, str] = {}
    for paragraph in text.split("\n\n"):
        fields = _fields(paragraph)
        if fields.get("Status") == "install ok installed" and "Package" in fields:
            packages[fields["Package"]] = fields["Version"]
    return packages


def _fields(paragraph: str) -> dict[str, str]:
    """The single-line fields of a deb822 paragraph (continuation lines are skipped)."""
    fields: dict[str, str] = {}
    for line in paragraph.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def created_by(recipe: BaseRecipe) -> str:
    """The history line: how the layer was made."""
    include = ",".join(sorted(set(recipe.packages)))
    return f"mmdebstrap --variant=minbase --include={include} {recipe.suite}"
