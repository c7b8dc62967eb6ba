"""A CycloneDX SBOM of an image: every Debian package and every Python distribution in it.

What is installed is read inside the image, as the fingerprint is, by a standard-library script
passed on the command line: an image that any earlier version of the kit built can be described
(it need not hold this module). The document is made by the CycloneDX library. The same image
gives the same bytes: the serial number derives from the image id and the timestamp is the
image's creation time, never the clock.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from lockstep.engines import Engine
from lockstep.errors import BuildError
from packageurl import PackageURL

SCHEMA = SchemaVersion.V1_6
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


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name, as Package URLs of type pypi spell it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def document(image_id: str, created: str, name: str, found: Inventory) -> str:
    """The CycloneDX JSON document of an image, its bytes a function of the arguments only.

    Args:
        image_id: the image's id (`sha256:...`): the described component and the serial number.
        created: the image's creation time (RFC 3339), the document's timestamp.
        name: the image's repository, the described component's name.
        found: what the image holds (`inventory`).
    """
    image = Component(type=ComponentType.CONTAINER, name=name, version=image_id, bom_ref=image_id)
    metadata = BomMetaData(component=image, timestamp=datetime.fromisoformat(created))
    components = [_debian(*row) for row in found.debian]
    components += [_python(*row) for row in found.python]
    bom = Bom(
        serial_number=uuid.uuid5(NAMESPACE, image_id),
        metadata=metadata,
        components=components,
    )
    # Flat: the image holds each of them; which package needs which is not recorded here.
    bom.register_dependency(image, components)
    return make_outputter(bom, OutputFormat.JSON, SCHEMA).output_as_string(indent=2) + "\n"


def digest(text: str) -> str:
    """The document's sha256, as the lineage records it."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _debian(name: str, version: str, architecture: str) -> Component:
    qualifiers = {"arch": architecture} if architecture else {}
    purl = PackageURL(
        type="deb", namespace="debian", name=name, version=version, qualifiers=qualifiers
    )
    return Component(name=name, version=version, purl=purl, bom_ref=purl.to_string())


def _python(name: str, version: str, folder: str) -> Component:
    purl = PackageURL(type="pypi", name=canonical(name), version=version)
    # A distribution can sit twice on sys.path (the venv's and the system's): one component each.
    ref = f"{purl.to_string()}#{folder}"
    return Component(name=name, version=version, purl=purl, bom_ref=ref)
