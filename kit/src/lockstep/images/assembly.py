"""Images the kit assembles itself: its own layer tars, a config it writes, and `docker load`.

The image id is the sha256 of the config, and the config names every layer by the sha256 of
its tar (`lockstep.images.tars`), so identical files give an identical id on any engine.

`docker load` reads the whole archive before it looks at the manifest, and takes a layer whose
chain it already has without opening the layer's file: the archive carries only the layers
after the longest prefix an image in the engine already has. A relabelled image sends no layer;
a lock bump sends the changed layer and those after it.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from lockstep.engines import Engine
from lockstep.errors import BuildError
from lockstep.images import oci, tars

# The prefix of every label the kit puts on an image.
LABEL = "io.lockstep"


@dataclass(frozen=True)
class Part:
    """One layer of an assembled image.

    Attributes:
        description: its history line, e.g. `packages: numpy 2.4.6`.
        digest: the sha256 of its tar (the config's diff_id).
        size: the tar's size in bytes.
        write: writes the tar; None for a layer the engine always has (the base's).
    """

    description: str
    digest: str
    size: int
    write: Callable[[IO[bytes]], tars.Written] | None = None


def in_memory(description: str, entries: list[tars.Entry], epoch: int) -> Part:
    """A small layer (settings files, requirements), written once and held in memory."""
    buffer = io.BytesIO()
    written = tars.write(buffer, entries, epoch)
    data = buffer.getvalue()
    return Part(
        description, written.digest, written.size, lambda out: (out.write(data), written)[1]
    )


def config(template: dict, parts: list[Part], labels: dict[str, str], epoch: int) -> bytes:
    """The image config: the template's platform and run settings, our layers and labels.

    Args:
        template: the `docker image inspect` record of the image whose settings to take
            (Env, User, WorkingDir, Cmd, platform).
        parts: every layer, in order.
        labels: the image's labels.
        epoch: its creation time.
    """
    settings = template.get("Config") or {}
    created = oci.rfc3339(epoch)
    document: dict = {
        "architecture": template["Architecture"],
        "os": template["Os"],
        "created": created,
        "config": {
            name: settings[name]
            for name in ("Env", "User", "WorkingDir", "Cmd", "Entrypoint")
            if settings.get(name)
        }
        | {"Labels": dict(sorted(labels.items()))},
        "rootfs": {"type": "layers", "diff_ids": [part.digest for part in parts]},
        "history": [{"created": created, "created_by": part.description} for part in parts],
    }
    if template.get("Variant"):
        document["variant"] = template["Variant"]
    return oci.canonical_json(document)


def present(engine: Engine, digests: list[str], candidates: list[str]) -> int:
    """How many of `digests`, from the first, some candidate image already has in that order."""
    if not candidates:
        return 0
    # Any of them may be removed meanwhile (another build, a prune): docker then exits 1 and
    # still prints the records of the others.
    inspected = engine.run("image", "inspect", *candidates, capture=True, quiet=True, check=False)
    records = json.loads(inspected.stdout or "[]")
    best = 0
    for record in records:
        theirs = record.get("RootFS", {}).get("Layers") or []
        common = 0
        while common < min(len(theirs), len(digests)) and theirs[common] == digests[common]:
            common += 1
        best = max(best, common)
    return best


def load(engine: Engine, document: bytes, parts: list[Part], tags: list[str], *, have: int) -> str:
    """`docker load` the image: its config, and the layers after the first `have`; its id.

    Raises:
        BuildError: a layer needed is one the kit cannot write, or came out other than planned.
    """
    missing = [part for part in parts[have:] if part.write is None]
    if missing:
        raise BuildError(
            f"the engine lacks the layer {missing[0].description!r} ({missing[0].digest[:19]})",
            "rebuild its image (`invoke build`), which puts it back in the engine",
        )
    names = {part.digest: f"{part.digest.removeprefix('sha256:')}.tar" for part in parts}
    manifest = [
        {"Config": "config.json", "RepoTags": tags, "Layers": [names[p.digest] for p in parts]}
    ]

    def produce(stdin: IO[bytes]) -> None:
        for part in parts[have:]:
            info = oci.tar_info(names[part.digest], part.size, 0)
            stdin.write(info.tobuf(tarfile.USTAR_FORMAT))
            written = part.write(stdin)
            if written != tars.Written(part.digest, part.size):
                raise BuildError(
                    f"the layer {part.description!r} came out as {written.digest[:19]}, "
                    f"{written.size} bytes, not {part.digest[:19]}, {part.size} bytes",
                    "a file in the kit's cache changed: delete the cache folder and build again",
                )
            stdin.write(b"\0" * (-part.size % tarfile.BLOCKSIZE))
        with tarfile.open(fileobj=stdin, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            members = {"config.json": document, "manifest.json": oci.canonical_json(manifest)}
            for name, data in members.items():
                tar.addfile(oci.tar_info(name, len(data), 0), io.BytesIO(data))

    new = parts[have:]
    loading = (f"loading {len(new)} layers", sum(part.size for part in new) + len(document))
    engine.write_to("load", "--quiet", produce=produce, progress=loading)
    return oci.digest(document)
