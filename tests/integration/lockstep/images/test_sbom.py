"""The SBOM covers the image: every package dpkg-query and importlib.metadata find inside it."""

from __future__ import annotations

import json

import pytest
from lockstep.images import sbom

pytestmark = pytest.mark.docker

# Run inside the image, independently of the kit's own inventory script.
DISTRIBUTIONS = (
    "import importlib.metadata as m\n"
    "for d in m.distributions(): print(d.metadata['Name'], d.version)"
)


def test_the_sbom_lists_every_debian_package_and_python_distribution(kit, runtime_image):
    created = kit.docker("image", "inspect", "--format", "{{.Created}}", runtime_image.id)
    found = sbom.inventory(kit.engine, runtime_image.id)
    document = json.loads(
        sbom.document(runtime_image.id, created.stdout.strip(), "credit-model", found)
    )
    listed = {(c["purl"].split("/")[0], c["name"], c["version"]) for c in document["components"]}

    def inside(*command: str) -> list[str]:
        run = ("run", "--rm", "--network", "none", runtime_image.id)
        return kit.docker(*run, *command).stdout.splitlines()

    status = inside("dpkg-query", "-W", "-f", "${db:Status-Status} ${Package} ${Version}\\n")
    debian = {
        ("pkg:deb", name, version)
        for state, name, version in (line.split(" ", 2) for line in status)
        if state == "installed"
    }
    python = {("pkg:pypi", *line.split(" ", 1)) for line in inside("python", "-c", DISTRIBUTIONS)}
    assert len(debian) > 100 and len(python) > 100
    assert listed == debian | python
