"""The layer plan: which installed distributions share a layer, by a rule a lock bump keeps.

Every distribution of at least OWN_LAYER_BYTES gets a layer of its own (pyarrow, scipy, numpy,
pandas...); the long tail is spread over GROUPS layers by a hash of each distribution's name.
Bumping one distribution therefore rewrites one layer: its own, or its group of a few small
ones. Adding or removing one touches only its group, and no version change moves anything else
(a distribution whose size crosses the threshold moves between its own layer and its group).
Own layers come first, by name, then the groups: a push, a pull or a remote stores each layer
once by digest, so an unchanged layer costs nothing however the image around it changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lockstep.files import atomic_write
from lockstep.images import tars
from lockstep.images.assembly import LABEL, Part
from lockstep.images.packages import Package

# The image label holding the layer table (`./inv build --plan` prints it).
LAYERS_LABEL = f"{LABEL}.layers"

OWN_LAYER_BYTES = 8 * 1024 * 1024
GROUPS = 8


@dataclass(frozen=True)
class Layer:
    """A planned layer: its name (a distribution's, or `group N`) and what it holds."""

    name: str
    packages: tuple[Package, ...]

    @property
    def size(self) -> int:
        """Bytes of its files."""
        return sum(package.size for package in self.packages)

    @property
    def key(self) -> str:
        """Its content, by the trees it is made of."""
        return hashlib.sha256("\0".join(p.key for p in self.packages).encode()).hexdigest()

    def describe(self) -> str:
        """The history line of the layer, e.g. `packages: numpy 2.4.6`."""
        return "packages: " + ", ".join(f"{p.name} {p.version}" for p in self.packages)


def plan(packages: list[Package]) -> list[Layer]:
    """The layers for `packages` (see the module's docstring); empty groups are left out."""
    own = sorted((p for p in packages if p.size >= OWN_LAYER_BYTES), key=lambda p: p.name)
    groups: dict[int, list[Package]] = {}
    for package in packages:
        if package.size < OWN_LAYER_BYTES:
            groups.setdefault(group_of(package.name), []).append(package)
    layers = [Layer(p.name, (p,)) for p in own]
    for number in sorted(groups):
        members = tuple(sorted(groups[number], key=lambda p: p.name))
        layers.append(Layer(f"group {number + 1}", members))
    return layers


def group_of(name: str) -> int:
    """The group of a small distribution: fixed by its name, whatever its version."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % GROUPS


def entries(layer: Layer) -> list[tars.Entry]:
    """The layer's files, from its distributions' trees."""
    files: dict[str, Path] = {}
    for package in layer.packages:
        files.update(package.paths())
    return tars.from_files(files)


def part(layer: Layer, cache: Path, epoch: int, scratch: Path) -> Part:
    """The layer as a part of an image.

    Its digest is remembered by content and epoch. A new layer is written once, to `scratch`,
    which a load then copies; a known one is written again only if a load needs it.
    """
    record = cache / "layers" / f"{layer.key}-{epoch}.json"
    try:
        known = json.loads(record.read_text())
        written = tars.Written(known["digest"], known["size"])
        return Part(
            layer.describe(),
            written.digest,
            written.size,
            lambda out: tars.write(out, entries(layer), epoch),
        )
    except (OSError, ValueError, KeyError):
        pass
    path = scratch / f"{layer.key}.tar"
    with path.open("wb") as out:
        written = tars.write(out, entries(layer), epoch)
    record.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(record, json.dumps({"digest": written.digest, "size": written.size}).encode())
    return Part(layer.describe(), written.digest, written.size, tars.copier(path, written))


def table(rows: list[dict]) -> str:
    """An image's layers as `invoke build --plan` prints them (the `io.lockstep.layers` label)."""
    total = sum(row["bytes"] for row in rows) or 1
    lines = [f"{'layer':<16} {'MB':>7} {'share':>6}  contents"]
    for row in rows:
        what = row["history"].removeprefix("packages: ")
        share = f"{row['bytes'] / total:.1%}" if row["bytes"] else ""
        size = f"{row['bytes'] / 1e6:7.1f}" if row["bytes"] else f"{'':>7}"
        lines.append(f"{row['layer']:<16} {size} {share:>6}  {what}")
    lines.append(
        f"distributions of {OWN_LAYER_BYTES >> 20} MiB or more have a layer each; the rest "
        f"share {GROUPS} groups by a hash of their names"
    )
    return "\n".join(lines)
