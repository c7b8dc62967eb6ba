"""environment.yaml: the fingerprint of the locked environment and the image built for it.

Every stage depends on the fingerprint (a DVC param), so a change of environment makes the
results stale; `invoke build` writes it, adoption writes a placeholder, a diff reads it.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from lockstep import yamltext
from lockstep.files import atomic_write

ENVIRONMENT_FILE = "environment.yaml"
ENVIRONMENT_HEADER = (
    "# Written by `invoke build`: the fingerprint of the locked environment the pipeline runs\n"
    "# in, and the runtime image built for it with a summary of its SBOM. Every stage depends\n"
    "# on the fingerprint, so a change of environment makes the results stale; the report\n"
    "# shows the image too.\n"
)


def write_environment(root: Path, value: str, image: dict | None = None) -> None:
    """Record the fingerprint and the image in environment.yaml; rewrite it only on a change.

    Unchanged bytes keep DVC from seeing a change. A run outside the runtime image (`image`
    None) keeps the recorded image while the fingerprint it was built for still holds.
    """
    path = root / ENVIRONMENT_FILE
    current = (yamltext.load(path.read_text()) if path.exists() else None) or {}
    if image is None and current.get("fingerprint") == value:
        image = current.get("image")
    # `image: null` rather than no key: DVC refuses a stage whose params name a missing key.
    wanted = {"fingerprint": value, "image": image}
    if current != wanted:
        atomic_write(path, (ENVIRONMENT_HEADER + yaml.safe_dump(wanted, sort_keys=False)).encode())
