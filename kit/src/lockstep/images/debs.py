"""The base image's `.deb` files: fetched once, kept in the DVC remote, served to rebuilds.

Debian's mirrors keep only the newest version of each package, so a base recorded today cannot
be rebuilt from them for long. The kit therefore keeps the exact `.deb` files of every base it
builds in `docker/base/debs/`, tracked by DVC (`docker/base/debs.dvc` in git records the set;
DVC stores each file once by content, so versions of the base share their unchanged packages)
and pushed to the project's DVC remote. Every base is built from those files through a local
apt repository served on loopback, whichever way they were fetched: from the archive, from a
snapshot mirror, or from the live mirror. One way of building is what makes the image id depend
on the packages alone.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import unquote

from lockstep import dvcconfig, files, shell
from lockstep.errors import BaseImageError, CommandError
from lockstep.images.manifest import Manifest
from lockstep.shell import say

FOLDER = "docker/base/debs"
TOOLS_FOLDER = f"{FOLDER}/tools"
# Unpacked into the dev image (docker/Dockerfile's `tools` stage), never installed.
TOOLS = ("docker.io", "git")
_TOOLS_INSIDE = "/tmp/lockstep-tools"


def mmdebstrap(*args: str) -> list[str]:
    """The mmdebstrap command line shared by every bootstrap: minbase, reproducible."""
    return ["mmdebstrap", "--variant=minbase", *args]


def download(
    suite: str,
    dest: Path,
    *,
    include: Sequence[str],
    tools: Sequence[str],
    mirrors: Sequence[str],
    epoch: int,
    unshare: bool,
) -> None:
    """Fetch every `.deb` a minbase bootstrap with `include` installs, plus the tools, into dest.

    mmdebstrap resolves and installs the set in a throwaway root (format null): the set is
    exactly what a bootstrap would install, with no resolver of our own. Base packages land in
    `dest`, tools in `dest/tools`.

    Args:
        suite: Debian suite.
        dest: an empty folder.
        include: packages to install on top of minbase, `name` or `name=version`.
        tools: tool packages to download, `name` or `name=version`.
        mirrors: apt sources (http or https URLs, or `deb ...` lines with them); none means
            apt's configured defaults. Not file:// ones: apt leaves their files in place,
            where the copy-out step would not find them.
        epoch: SOURCE_DATE_EPOCH.
        unshare: run without root, in a user namespace.

    Raises:
        BaseImageError: mmdebstrap failed (a package or version the mirrors do not have).
        DiskFullError: a disk filled up: `dest`'s, or the temporary folder's, where mmdebstrap
            makes its throwaway root.
    """
    where = f"{dest} (through {tempfile.gettempdir()})"
    with files.space_for("downloading the base's .deb files into", where):
        _download(suite, dest, include, tools, mirrors, epoch, unshare)


def _download(suite, dest: Path, include, tools, mirrors, epoch: int, unshare: bool) -> None:
    raw = dest / "raw"
    raw.mkdir(parents=True)
    fetch_tools = (
        f'chroot "$1" sh -c "mkdir -p {_TOOLS_INSIDE} && cd {_TOOLS_INSIDE} && '
        f'apt-get -qq -o APT::Sandbox::User=root download {" ".join(tools)}"'
    )
    cmd = mmdebstrap(
        "--include=" + ",".join(include),
        # Keep every downloaded .deb, essential ones included, to copy them out.
        "--skip=essential/unlink,cleanup/apt/cache",
        f"--customize-hook=copy-out /var/cache/apt/archives {raw}",
        f"--customize-hook={fetch_tools}",
        f"--customize-hook=copy-out {_TOOLS_INSIDE} {raw}",
        "--format=null",
    )
    if unshare:
        cmd.append("--mode=unshare")
    cmd += [suite, "/dev/null", *mirrors]
    run_mmdebstrap(cmd, epoch, "check that the mirror is reachable and holds these packages")
    (dest / "tools").mkdir()
    for deb in (raw / "archives").glob("*.deb"):
        deb.rename(dest / deb.name)
    for deb in (raw / Path(_TOOLS_INSIDE).name).glob("*.deb"):
        deb.rename(dest / "tools" / deb.name)
    shutil.rmtree(raw)


def versions(folder: Path) -> dict[str, str]:
    """Package name -> version of the `.deb` files in a folder, from apt's file names.

    apt names a downloaded file `NAME_VERSION_ARCH.deb` with the version's `:` escaped as `%3a`;
    a name and a version never contain `_`.
    """
    found = {}
    for deb in folder.glob("*.deb"):
        name, version, _ = deb.name.split("_")
        found[name] = unquote(version)
    return found


def holds(folder: Path, recorded: Manifest) -> bool:
    """True when a folder has exactly the recorded `.deb` files, tools included."""
    return (
        folder.is_dir()
        and versions(folder) == dict(recorded.packages)
        and versions(folder / "tools") == dict(recorded.tools)
    )


@contextlib.contextmanager
def served(folder: Path, suite: str) -> Iterator[str]:
    """An apt repository of the `.deb` files in `folder`, on loopback; yields its sources line.

    Served over http rather than as a file:// mirror: a file mirror must be mounted into the
    root at its host path, which leaves that path's folders in the image.
    """
    with tempfile.TemporaryDirectory(prefix="lockstep-repo-") as tmp:
        repo = Path(tmp)
        pool = repo / "pool"
        pool.mkdir()
        for deb in sorted(folder.glob("*.deb")):
            (pool / deb.name).symlink_to(deb.resolve())
        arch = shell.output(["dpkg", "--print-architecture"])
        index = repo / "dists" / suite / "main" / f"binary-{arch}"
        index.mkdir(parents=True)
        packages = shell.output(["apt-ftparchive", "packages", "pool"], cwd=repo)
        (index / "Packages").write_text(packages + "\n")
        release = shell.output(
            [
                "apt-ftparchive",
                *(f"-o=APT::FTPArchive::Release::{key}={suite}" for key in ("Suite", "Codename")),
                "-o=APT::FTPArchive::Release::Components=main",
                f"-o=APT::FTPArchive::Release::Architectures={arch}",
                "release",
                f"dists/{suite}",
            ],
            cwd=repo,
        )
        (repo / "dists" / suite / "Release").write_text(release + "\n")
        handler = functools.partial(_QuietHandler, directory=str(repo))
        with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                port = server.server_address[1]
                yield f"deb [trusted=yes] http://127.0.0.1:{port}/ {suite} main"
            finally:
                server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def run_mmdebstrap(cmd: list[str], epoch: int, hint: str = "see mmdebstrap's output above") -> None:
    """Run mmdebstrap with SOURCE_DATE_EPOCH, turning its failure into a BaseImageError."""
    try:
        shell.run(cmd, env={"SOURCE_DATE_EPOCH": str(epoch)})
    except CommandError as exc:
        if "not found" in exc.message:
            hint = "install it: apt-get install mmdebstrap apt-utils"
        raise BaseImageError(exc.message, hint, log=exc.log) from exc


def store(root: Path) -> None:
    """Track the `.deb` folder with DVC and push it to the default remote, saying what happened.

    Archiving is a safeguard, not a step the build depends on: a project with no DVC remote
    (or none reachable) still builds, and is told what is missing.
    """
    try:
        shell.run(["dvc", "add", "--quiet", FOLDER], cwd=root, capture=True)
    except CommandError as exc:
        say(f"base: the .deb files were not archived ({exc.message})")
        return
    proc = _dvc(root, "push", "--quiet", f"{FOLDER}.dvc")
    if proc:
        say(f"base: the .deb files are in the DVC cache but not pushed ({proc})")
    else:
        say(f"base: the .deb files are archived in the DVC remote; commit {FOLDER}.dvc")


def restore(root: Path) -> str | None:
    """Bring the recorded `.deb` folder from the DVC cache or remote; None, or why it could not."""
    if not (root / f"{FOLDER}.dvc").exists():
        return f"{FOLDER}.dvc is not in the project"
    problem = _dvc(root, "pull", "--force", "--quiet", f"{FOLDER}.dvc")
    if problem and (needed := dvcconfig.short_of_space(root, [FOLDER])):
        # Not a rung that failed: every other one needs the same space.
        raise files.no_space("checking out the base's .deb files into", root / FOLDER, needed)
    return f"not in the DVC cache or remote: {problem}" if problem else None


def _dvc(root: Path, *args: str) -> str | None:
    """Run a DVC command quietly; None on success, else its last line of output."""
    try:
        proc = shell.run(["dvc", *args], cwd=root, capture=True, check=False)
    except CommandError as exc:
        return exc.message
    if proc.returncode == 0:
        return None
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"
