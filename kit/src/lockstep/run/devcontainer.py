"""The devcontainer's image: the dev image the kit builds, made ready for this host.

devcontainer.json cannot compute what a build of docker/Dockerfile needs (the base image, the
poetry pins, the CA bundle as a BuildKit secret), so its initializeCommand runs
`./inv devcontainer` on the host first. That builds (or reuses) the `dev` target exactly as
`invoke build --target dev` does, and tags it `<image>-dev:devcontainer`, the stable name
devcontainer.json opens. On top goes one layer, specific to this host, that only edits
/etc/group. When you opt in to the host's Docker socket (LOCKSTEP_DEVCONTAINER_DOCKER_SOCKET,
which devcontainer.json also mounts), the container user joins the group owning it, so
`invoke build` and the Docker tests work from the editor; without it the container has no
engine. The environment fingerprint is unchanged either way.
"""

from __future__ import annotations

import os
from pathlib import Path

from lockstep import paths, workspace
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import ConfigError
from lockstep.files import atomic_write
from lockstep.images import builder
from lockstep.run import pipeline
from lockstep.shell import say

TAG = "devcontainer"
# The user the Dockerfile creates; devcontainer.json names it as remoteUser.
USER = "lockstep"
# Set on the host to the engine's socket to give the devcontainer the host's Docker engine.
SOCKET_VARIABLE = "LOCKSTEP_DEVCONTAINER_DOCKER_SOCKET"
# Set to "root" by a root host user: devcontainer.json's containerUser and remoteUser.
USER_VARIABLE = "LOCKSTEP_DEVCONTAINER_USER"
# In the workspace, so the container sees them at the same path. `.lockstep/` is git-ignored.
IMAGE_CA = "/etc/ssl/certs/ca-certificates.crt"
FROM_LABEL = f"{builder.LABEL}.devcontainer.from"
GID_LABEL = f"{builder.LABEL}.devcontainer.docker-gid"


def tag(settings: Settings) -> str:
    """The name devcontainer.json opens: `<image>-dev:devcontainer`."""
    return f"{builder.repository(settings, 'dev')}:{TAG}"


@workspace.exclusive("invoke devcontainer")
def prepare(settings: Settings) -> tuple[str, builder.Image]:
    """Build the dev image and tag it for the devcontainer; return (tag, dev image).

    Re-tagging only happens when the dev image or the socket's group changed, so an unchanged
    environment keeps its image id and the editor reuses its container.
    """
    check_user()
    engine, dev = pipeline.build(settings, "dev")
    ref, gid = tag(settings), socket_gid()
    wanted = {FROM_LABEL: dev.id, GID_LABEL: "" if gid is None else str(gid)}
    current = engine.labels(ref)
    if any(current.get(key) != value for key, value in wanted.items()):
        engine.run(
            "build", "--quiet", "-t", ref, "-", input=dockerfile(dev.tag, gid, wanted), capture=True
        )
    else:
        say(f"{ref} is up to date")
    write_ca(settings, engine, dev.tag)
    # TMPDIR inside the container: a temporary folder there is a path the host's engine can
    # bind-mount too, which the Docker tests rely on.
    settings.path(paths.TMP).mkdir(parents=True, exist_ok=True)
    return ref, dev


def check_user() -> None:
    """Refuse a container user who could not write the workspace, or would own it wrongly.

    The devcontainer CLI gives the container user the host user's uid, except for root: then the
    container's `lockstep` cannot write a root-owned workspace (`dvc status` fails with
    "permission denied" on .dvc/tmp/lock). A root host user chooses root inside instead; any
    other host user must not, or their files would become root's.

    Raises:
        ConfigError: the choice does not fit the host user.
    """
    chosen = os.environ.get(USER_VARIABLE, USER)
    as_root = os.getuid() == 0
    if chosen not in (USER, "root"):
        raise ConfigError(f"{USER_VARIABLE}={chosen}: not a user of the image", "unset it")
    if as_root and chosen != "root":
        raise ConfigError(
            f"as root on this machine, the devcontainer's user {USER} cannot write your "
            "root-owned workspace",
            f"open the folder as your own user, or set {USER_VARIABLE}=root where the editor "
            "starts (files made inside then belong to root, as yours do)",
        )
    if chosen == "root" and not as_root:
        raise ConfigError(
            f"{USER_VARIABLE}=root is for a root host user: files made inside would belong to "
            "root, not to you",
            f"unset {USER_VARIABLE}",
        )


def socket_gid() -> int | None:
    """The group owning the Docker socket the user opted in to, or None without one.

    Raises:
        ConfigError: the socket is missing, or belongs to group 0 (root's group: joining it
            would give the container user much more than the engine).
    """
    chosen = os.environ.get(SOCKET_VARIABLE, "")
    if not chosen:
        return None
    try:
        gid = Path(chosen).stat().st_gid
    except OSError as exc:
        raise ConfigError(
            f"{SOCKET_VARIABLE}={chosen}: {exc.strerror}",
            "point it at the engine's socket (usually /var/run/docker.sock), or unset it",
        ) from None
    if gid == 0:
        raise ConfigError(
            f"{chosen} belongs to group 0 (root): the container user would join root's group",
            "give the socket a group of its own (`docker`, as Debian's docker.io does), "
            f"or unset {SOCKET_VARIABLE}",
        )
    return gid


def dockerfile(base: str, gid: int | None, labels: dict[str, str]) -> str:
    """The host layer: the container user joins the socket's group (created if missing)."""
    lines = [f"FROM {base}"]
    if gid is not None:
        lines += [
            "USER root",
            f'RUN group="$(getent group {gid} | cut -d: -f1)"; '
            f'if [ -z "$group" ]; then group=docker-host; groupadd --gid {gid} "$group"; fi; '
            f'usermod --append --groups "$group" {USER}',
            f"USER {USER}",
        ]
    lines.append("LABEL " + " ".join(f'{key}="{value}"' for key, value in labels.items()))
    return "\n".join(lines) + "\n"


def write_ca(settings: Settings, engine: Engine, image: str) -> Path:
    """Put the CA bundle where the container finds it (PIP_CERT in devcontainer.json).

    The host's bundle when it has one (builds from the editor pass it as a BuildKit secret);
    otherwise the image's own, so the variables pointing here are always valid.
    """
    host = settings.ca_bundle_path()
    if host:
        data = host.read_bytes()
    else:
        data = engine.run(
            "run", "--rm", "--network", "none", image, "cat", IMAGE_CA, capture=True, quiet=True
        ).stdout.encode()
    path = settings.path(paths.DEVCONTAINER_CA)
    if not path.exists() or path.read_bytes() != data:
        atomic_write(path, data)
    return path
