"""The environment fingerprint, computed inside an image from what is actually installed.

It covers the Python version, the pipeline's distributions as installed (names from the
runtime requirements the image was built from, versions from their metadata) and the Debian
package manifest. Build dates, layer ids and file timestamps are left out on purpose: two images
built from the same inputs have the same fingerprint even when their ids differ, and the dev
image (which adds tools) has the same fingerprint as the runtime image it extends.

Run as `python -m lockstep.runtime.fingerprint [--json]`; standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path("/opt/lockstep/requirements.txt")
DPKG_STATUS = Path("/var/lib/dpkg/status")
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def inside_image() -> bool:
    """True inside a lockstep image (a batch container or the devcontainer)."""
    return REQUIREMENTS.exists()


def where() -> str:
    """Where this process runs, as the image's environment declares it."""
    return os.environ.get("LOCKSTEP_WHERE", "container")


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pipeline_distributions(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """Installed versions of the distributions the runtime requirements name."""
    names = {
        canonical(match.group(1))
        for line in requirements.read_text().splitlines()
        if (match := _REQUIREMENT.match(line))
    }
    installed = {
        canonical(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    return {name: installed.get(name, "MISSING") for name in sorted(names)}


def debian_packages(status: Path = DPKG_STATUS) -> dict[str, str]:
    """Installed Debian packages and versions, from dpkg's status file."""
    if not status.exists():
        return {}
    packages = {}
    for paragraph in status.read_text().split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in paragraph.splitlines()
            if ": " in line and line[0] != " "
        )
        if fields.get("Status") == "install ok installed":
            packages[fields["Package"]] = fields["Version"]
    return dict(sorted(packages.items()))


def describe(requirements: Path = REQUIREMENTS, status: Path = DPKG_STATUS) -> dict:
    """Everything the fingerprint covers, as a JSON-ready mapping."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "machine": platform.machine(),
        "distributions": pipeline_distributions(requirements),
        "debian": debian_packages(status),
    }


def fingerprint(description: dict) -> str:
    """sha256 of the canonical JSON of a description."""
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Print the fingerprint, or with --json the fingerprint and what it covers."""
    parser = argparse.ArgumentParser(
        prog="python -m lockstep.runtime.fingerprint", description=__doc__
    )
    parser.add_argument("--json", action="store_true", help="print what the fingerprint covers")
    args = parser.parse_args(argv)
    description = describe()
    if args.json:
        print(json.dumps({"fingerprint": fingerprint(description), **description}, indent=2))
    else:
        print(fingerprint(description))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
