"""A CycloneDX SBOM of an image: every Debian package and every Python distribution in it.

What is installed is read inside the image, as the fingerprint is, by a standard-library script
passed on the command line: an image that any earlier version of the kit built can be described
(it need not hold this module). The document is made by the CycloneDX library. The same image
gives the same bytes: the serial number derives from the image id and the timestamp is the
image's creation time, never the clock.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lockstep import git
from lockstep.engines import Engine
from lockstep.errors import BuildError, LineageError, LockstepError
from lockstep.files import atomic_write
from lockstep.records import lineage
from lockstep.runtime.fingerprint import canonical

FOLDER = "reports/sbom"
# uuid5 namespace of the documents' serial numbers: urn:uuid, derived from the image id.
NAMESPACE = uuid.UUID("6f1d4b5e-3c1a-5b7e-9a51-1c0c2a7d9e42")

# Run by the image's own `python`: dpkg's status file and every distribution on sys.path (the
# venv and the system's), with the folder it sits in. Standard library only, Python 3.8+.
INVENTORY = r"""
import json, sys
from importlib import metadata
from pathlib import Path

debian = []
status = Path("/var/lib/dpkg/status")
for paragraph in status.read_text().split("\n\n") if status.exists() else []:
    fields = dict(
        line.split(": ", 1) for line in paragraph.splitlines() if ": " in line and line[0] != " "
    )
    if fields.get("Status") == "install ok installed":
        debian.append([fields["Package"], fields["Version"], fields.get("Architecture", "")])
python = []
for dist in metadata.distributions():
    where = str(dist.locate_file(""))
    python.append([dist.metadata["Name"], dist.version, where])
json.dump({"debian": sorted(debian), "python": sorted(python)}, sys.stdout)
"""


@dataclass(frozen=True)
class Inventory:
    """What an image holds: (name, version, architecture) and (name, version, folder) rows."""

    debian: tuple[tuple[str, str, str], ...]
    python: tuple[tuple[str, str, str], ...]


def inventory(engine: Engine, image: str) -> Inventory:
    """Every Debian package and Python distribution installed in `image`, read inside it.

    Raises:
        BuildError: the image cannot run `python` (its output says why).
    """
    out = engine.output("run", "--rm", "--network", "none", image, "python", "-c", INVENTORY)
    try:
        found = json.loads(out)
    except json.JSONDecodeError:
        raise BuildError(
            f"{image}: could not list what is installed (no JSON from its python)",
            "check that the image runs `python` (a lockstep runtime or dev image does)",
        ) from None
    return Inventory(
        debian=tuple(tuple(row) for row in found["debian"]),
        python=tuple(tuple(row) for row in found["python"]),
    )


def document(image_id: str, created: str, name: str, found: Inventory) -> str:
    """The CycloneDX JSON document of an image, its bytes a function of the arguments only.

    Args:
        image_id: the image's id (`sha256:...`): the described component and the serial number.
        created: the image's creation time (RFC 3339), the document's timestamp.
        name: the image's repository, the described component's name.
        found: what the image holds (`inventory`).
    """
    # Imported here: the library takes a fifth of a second to import, and every run imports
    # this module while a document is written only for an image not described yet.
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from packageurl import PackageURL

    def debian(name: str, version: str, architecture: str) -> Component:
        qualifiers = {"arch": architecture} if architecture else {}
        purl = PackageURL(
            type="deb", namespace="debian", name=name, version=version, qualifiers=qualifiers
        )
        return Component(name=name, version=version, purl=purl, bom_ref=purl.to_string())

    def python(name: str, version: str, folder: str) -> Component:
        purl = PackageURL(type="pypi", name=canonical(name), version=version)
        # A distribution can sit twice on sys.path (the venv's, the system's): one each.
        ref = f"{purl.to_string()}#{folder}"
        return Component(name=name, version=version, purl=purl, bom_ref=ref)

    image = Component(type=ComponentType.CONTAINER, name=name, version=image_id, bom_ref=image_id)
    metadata = BomMetaData(component=image, timestamp=datetime.fromisoformat(created))
    components = [debian(*row) for row in found.debian] + [python(*row) for row in found.python]
    bom = Bom(
        serial_number=uuid.uuid5(NAMESPACE, image_id), metadata=metadata, components=components
    )
    # Flat: the image holds each of them; which package needs which is not recorded here.
    bom.register_dependency(image, components)
    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string(indent=2)


def digest(text: str) -> str:
    """A document's sha256, as the lineage records it: of the text stripped, as git shows it."""
    return "sha256:" + hashlib.sha256(text.strip().encode()).hexdigest()


def path(root: Path, image_id: str) -> Path:
    """Where a project keeps an image's SBOM: tracked by git, next to the lineage."""
    return root / FOLDER / f"{image_id.removeprefix('sha256:')[:12]}.cdx.json"


@dataclass(frozen=True)
class Described:
    """An image's SBOM, made before a run and kept in the project only if a stage ran in it."""

    path: Path
    text: str
    digest: str

    def summary(self) -> dict:
        """Its digest and how many Debian packages and Python distributions it lists."""
        purls = [c.get("purl", "") for c in json.loads(self.text).get("components", [])]
        return {
            "sbom": self.digest,
            "debian_packages": sum(purl.startswith("pkg:deb/") for purl in purls),
            "python_distributions": sum(purl.startswith("pkg:pypi/") for purl in purls),
        }

    def keep(self) -> None:
        """Write it into the project (tracked by git, next to the lineage) unless it is there."""
        if not self.path.exists():
            atomic_write(self.path, (self.text + "\n").encode())


def describe(root: Path, engine: Engine, image_id: str, name: str) -> Described:
    """The image's SBOM: the project's copy, or made from the image when there is none."""
    target = path(root, image_id)
    text = target.read_text().strip() if target.exists() else made(engine, image_id, name)
    return Described(target, text, digest(text))


@functools.cache
def made(engine: Engine, image_id: str, name: str) -> str:
    """The SBOM read from the image, once per process (an image id names fixed content).

    The build records its summary in environment.yaml; the run that follows keeps the same text.
    """
    created = (engine.inspect(image_id) or {}).get("Created", "")
    return document(image_id, created, name, inventory(engine, image_id))


def kept(root: Path) -> list[Path]:
    """The SBOMs the project keeps."""
    folder = root / FOLDER
    return sorted(folder.glob("*.cdx.json")) if folder.is_dir() else []


def prune(root: Path, image_ids: set[str]) -> None:
    """Remove the SBOMs of images no stage's lineage names any more."""
    keep = {path(root, image_id).name for image_id in image_ids}
    for stale in kept(root):
        if stale.name not in keep:
            stale.unlink()


def recorded(root: Path, engine: Engine, rev: str = "") -> dict[str, str]:
    """The SBOM of each image the lineage names at `rev` (the workspace when empty), by id.

    Each is the project's copy, checked against the digest the lineage records; a result
    recorded before SBOMs gets one made from its image, when the engine has it.

    Raises:
        LineageError: no lineage; a copy that does not match its digest; an image to describe
            that the engine does not have.
    """
    if rev:
        git.resolve(root, rev)  # an unknown revision says so, not "no lineage"
    record = lineage.read_at(root, rev) if rev else lineage.read(root / lineage.PATH)
    where = f" at {rev}" if rev else ""
    found = {}
    for image_id, run in sorted(record.images().items()):
        name = path(root, image_id).relative_to(root).as_posix()
        try:
            text = git.show(root, rev, name) if rev else (root / name).read_text().strip()
        except (LockstepError, FileNotFoundError):
            text = None
        recorded_digest = run.environment.sbom
        if text is not None and recorded_digest and digest(text) != recorded_digest:
            raise LineageError(
                f"{name}{where} is not the SBOM its lineage records (digest differs)",
                "restore it from git; it was changed after the run",
            )
        if text is None:
            if engine.inspect(image_id) is None:
                raise LineageError(
                    f"{name}{where} is missing and the engine lacks image {image_id[:19]}",
                    f"bring the image with `invoke pull {rev or 'HEAD'}`, then try again",
                )
            text = describe(root, engine, image_id, run.environment.image_tag or "image").text
        found[image_id] = text
    return found
