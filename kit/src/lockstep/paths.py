"""Where the kit keeps its machine-local state: under `.lockstep/` in the project, git-ignored.

One owner for every such path, so that what lives there (and what is safe to delete) is written
down in one place. All paths are relative to the project root.
"""

from __future__ import annotations

STATE = ".lockstep"
# The pinned Poetry (`./inv`), the requirements it exported, and the last lock it accepted.
POETRY = f"{STATE}/poetry"
REQUIREMENTS = f"{STATE}/requirements.txt"
LOCK_CHECKED = f"{STATE}/lock-checked"
# Held while `./inv` installs them: two `./inv` in a fresh clone would install over each other.
TOOLCHAIN_LOCK = f"{STATE}/toolchain.lock"
# The last runtime build's answer and the inputs it holds for (lockstep.images.recorded).
BUILD_RECORD = f"{STATE}/build.json"
# The base's `.deb` files, downloaded while the toolchain installs (lockstep.images.prefetch).
PREFETCH = f"{STATE}/prefetch"
# Each task's log: every command the kit ran and its full output (lockstep.shell).
LOGS = f"{STATE}/logs"
# The workspace lock every writer holds (lockstep.workspace).
WORKSPACE_LOCK = f"{STATE}/workspace.lock"
# DVC's file-hash cache for runs in containers, kept between runs.
DVC_SITE_CACHE = f"{STATE}/dvc-site-cache"
# The devcontainer's copy of the CA bundle and its temporary files: inside the workspace, so
# the container sees them at the same path.
DEVCONTAINER_CA = f"{STATE}/devcontainer/ca.pem"
TMP = f"{STATE}/tmp"
# The machine facts a run records (`lockstep.runtime.machine`), by image, variables and CPU.
MACHINE_FACTS = f"{STATE}/machine"
# What each image holds, file by file, by image id (`invoke diff`): an id never changes content.
IMAGE_FILES = f"{STATE}/image-files"
# (In the devcontainer, the kit's user cache, XDG_CACHE_HOME, is `.lockstep/cache`, set by
# devcontainer.json: the host's engine mounts the distribution trees it installs there.)
# Rerun statements `invoke pull` collected from the DVC remote (`lockstep.share.reruns`): one
# folder per commit, each file named by the sha256 of its bytes.
RERUNS_COLLECTED = f"{STATE}/reruns"
# A refresh's scratch files, inside its worktree.
REFRESH_WORK = f"{STATE}/refresh"
# Slurm jobs' scripts, output and worktrees: inside the project, which every node must see.
SLURM = f"{STATE}/slurm"
