"""The DVC cache, checked where it matters: a cached file must still hash to its name.

DVC trusts its cache. A stored file is made read-only, and its local cache then takes that mode
as proof the content is intact (`LocalHashFileDB.check` returns before hashing); its state
database remembers a hash by inode, mtime and size, which bit rot leaves as they were. So a
flipped byte is pushed to the remote as it is (`dvc push` sends what `dvc status -c` calls new,
unread), and every later fetch gets the damage. The `verify` remote option checks downloads,
never uploads.

The kit hashes a cached file again, streamed, with dvc-data's own hashing (`hash_file`, with
no state), where the cost is proportional: what a publish is about to send (`check_unsent`),
what a replay copies into its worktree (`used`, then `check`), and a file a comparison found
different (`tracked`, then `check`). A damaged file is removed from the cache, as DVC's own
check removes one it finds, so that no later command sends it or checks it out; the error
names the tracked file, the cache file and what to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lockstep.errors import DamagedCacheError

# The remedy where a run fetches what its cache lacks (a replay's inputs and image): the remote's
# copy is good, unless the damage came from there (sent unchecked, or on the remote's own disk).
FETCH_AGAIN = "run again to fetch it from the remote (damaged there too: publish a good copy)"


def check_unsent(root: Path, targets: list[str], remedy: Callable[[Any], str]) -> None:
    """Check what `dvc push TARGETS` would send: the objects in the cache the remote lacks.

    DVC's own answer, as `dvc status --cloud` finds it: the objects the targets use (`used`),
    then which of them the default remote does not have. Folder listings are checked whatever
    the remote has: they are small, and DVC cannot push a folder whose listing it cannot read.

    Raises:
        DamagedCacheError: one of them is damaged (`check`).
        Exception: whatever DVC raises when the remote cannot be asked.
    """
    from dvc.repo import Repo  # heavy; only publishing and checking need it

    # DVC resolves targets against the working directory.
    with contextlib.chdir(root), Repo(str(root)) as repo:
        objects = used(repo, targets, push=True)
        new = repo.cloud.status(objects).new
        check(repo, [info for info in objects if info.isdir or info in new], remedy)


def used(repo: Any, targets: list[str], *, push: bool = False) -> list[Any]:
    """The objects DVC-tracked targets (all, when none) use in the repository's own cache.

    DVC's `HashInfo`s, in order of the paths they are tracked as (`obj_name`): a file's, and a
    folder's listing and files. With `push`, only those of outputs DVC pushes. A listing DVC
    cannot read is there too: DVC itself leaves such a folder out, silently.
    """
    from dvc_data.hashfile.hash_info import HashInfo

    found = repo.used_objs(targets or None, force=True, push=push)
    ours = {info for odb, objects in found.items() if odb is None for info in objects}
    for stage, _ in repo.index.collect_targets(targets or None):
        listings = [out for out in stage.outs if out.use_cache and out.hash_info.isdir]
        ours |= {HashInfo(o.hash_info.name, o.hash_info.value, str(o)) for o in listings}
    return sorted(ours, key=lambda info: info.obj_name)


def tracked(fs: Any, path: str) -> Iterator[Any]:
    """The objects of a DVC-tracked file or folder, as a `DVCFileSystem` at a revision has them.

    A folder's are its listing, then every file in it, each named for its tracked path: lazily,
    so that `check` reads a damaged listing before DVC is asked to list the folder from it.
    """
    from dvc_data.hashfile.hash_info import HashInfo

    def named(name: str) -> HashInfo:
        info = fs.info(name)["dvc_info"]["entry"].hash_info
        return HashInfo(info.name, info.value, obj_name=name.lstrip("/"))

    yield named(path)
    if fs.isdir(path):
        yield from (named(name) for name in fs.find(path))


def check(repo: Any, objects: Iterable[Any], remedy: Callable[[Any], str]) -> None:
    """Hash each object's cache file again; remove and report the first that is damaged.

    A file missing from the cache is not this check's business: the caller's DVC command says
    so in its own words.

    Args:
        repo: the DVC `Repo` whose cache holds the objects.
        objects: DVC `HashInfo`s named for their tracked paths (`tracked`).
        remedy: given the damaged one's `HashInfo`, what to do once its file is gone.

    Raises:
        DamagedCacheError: a cache file does not hash to its name.
    """
    cache = repo.cache
    for hash_info in objects:
        # The cache of DVC 3's md5 or, for outputs DVC 2 recorded, of its md5-dos2unix.
        odb = cache.local if hash_info.name == cache.local.hash_name else cache.legacy
        path = odb.oid_to_path(hash_info.value)
        try:
            if holds(Path(path), hash_info):
                continue
        except FileNotFoundError:
            continue
        try:
            odb.fs.remove(path)
            removed = "removed it from the cache"
        except OSError as exc:
            removed = f"could not remove it ({exc.strerror}): delete it by hand"
        raise DamagedCacheError(
            f"the DVC cache's copy of {hash_info.obj_name} is damaged: {path} no longer "
            f"hashes to its name; {removed}",
            remedy(hash_info),
        )


def holds(path: Path, hash_info: Any) -> bool:
    """Whether the file at `path` has the content DVC recorded as `hash_info`, read streamed.

    dvc-data's own hashing with no state: DVC's state answers from the inode, mtime and size,
    which bit rot leaves as they were.
    """
    from dvc_data.hashfile.hash import hash_file
    from dvc_objects.fs import localfs

    _, actual = hash_file(str(path), localfs, hash_info.name)
    return actual.value == hash_info.value.removesuffix(".dir")
