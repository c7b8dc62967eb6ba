"""The base image's manifest, `docker/base/packages.lock`: what the offline base holds, in git.

It records the Debian suite, every installed package and version, the dev image's tools (git
and the docker CLI: downloaded, unpacked into the dev image, never installed), and the id of the
image built from them. The id is what the base ladder looks for first; the versions are what a
rebuild must reproduce, and what a drift report compares against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockstep.config import Settings
from lockstep.errors import BaseImageError
from lockstep.files import atomic_write

HEADER = (
    "# The lockstep base image: Debian packages and versions, written by `invoke build`.\n"
    "# Review changes like code: they change the environment every result is recorded with.\n"
)
TOOLS_HEADER = "# tools: downloaded for the dev image, unpacked, never installed"
# How many changes a one-line summary lists before counting the rest.
MAX_LISTED = 12


@dataclass(frozen=True)
class Manifest:
    """The packages (and tools) of one base image, and the image's id once built.

    Attributes:
        suite: Debian suite, e.g. "bookworm".
        packages: installed package name -> version.
        tools: dev-image tool package name -> version.
        image: id of the base image these packages gave (`sha256:...`), "" when not recorded.
    """

    suite: str
    packages: Mapping[str, str]
    tools: Mapping[str, str] = field(default_factory=dict)
    image: str = ""

    def render(self) -> str:
        """The file's text; equal manifests give equal bytes."""
        lines = [f"# suite: {self.suite}"]
        if self.image:
            lines.append(f"# image: {self.image}")
        lines += [f"{name}={self.packages[name]}" for name in sorted(self.packages)]
        if self.tools:
            lines.append(TOOLS_HEADER)
            lines += [f"{name}={self.tools[name]}" for name in sorted(self.tools)]
        return HEADER + "\n".join(lines) + "\n"

    def pins(self) -> list[str]:
        """Every installed package as `name=version`, sorted, as apt and mmdebstrap take them."""
        return [f"{name}={version}" for name, version in sorted(self.packages.items())]

    def key(self) -> str:
        """A hash of what decides the image's content (not its recorded id, not the tools)."""
        text = "\n".join([self.suite, *self.pins()])
        return hashlib.sha256(text.encode()).hexdigest()

    def changes_from(self, old: Manifest) -> list[str]:
        """What differs from `old` in the installed packages, one entry per package."""
        changes = diff(old.packages, self.packages)
        if old.suite != self.suite:
            changes.insert(0, f"suite {old.suite} -> {self.suite}")
        return changes

    def write(self, path: Path) -> None:
        """Write the manifest atomically, leaving the file untouched when nothing changed."""
        text = self.render()
        if not (path.exists() and path.read_text(encoding="utf-8") == text):
            atomic_write(path, text.encode())


def parse(text: str, where: str) -> Manifest:
    """Read a manifest's text.

    Raises:
        BaseImageError: a line is neither a comment nor `name=version`, or the suite is missing.
    """
    suite, image = "", ""
    sections: list[dict[str, str]] = [{}, {}]
    current = sections[0]
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("# suite:"):
            suite = line.removeprefix("# suite:").strip()
        elif line.startswith("# image:"):
            image = line.removeprefix("# image:").strip()
        elif line == TOOLS_HEADER:
            current = sections[1]
        elif not line or line.startswith("#"):
            continue
        else:
            name, sep, version = line.partition("=")
            if not (sep and name.strip() and version.strip()):
                raise BaseImageError(
                    f"{where} line {number} is not `name=version`: {raw!r}",
                    "fix the line, or restore the file from git",
                )
            current[name.strip()] = version.strip()
    if not suite:
        raise BaseImageError(f"{where} has no `# suite:` line", "restore the file from git")
    return Manifest(suite, sections[0], sections[1], image)


def read(path: Path) -> Manifest | None:
    """The manifest in a file, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse(text, str(path))


def recorded_base(settings: Settings) -> Manifest | None:
    """The project's committed base manifest, when the base is the offline Debian bootstrap."""
    if not settings.base.bootstrap:
        return None
    return read(settings.path(settings.base.manifest))


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Changes from `old` to `new`, by name: `libc6 2.36-9 -> 2.36-10`, `+newpkg`, `-oldpkg`."""
    changes = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            changes.append(f"+{name} {new[name]}")
        elif name not in new:
            changes.append(f"-{name} {old[name]}")
        elif old[name] != new[name]:
            changes.append(f"{name} {old[name]} -> {new[name]}")
    return changes


def summarise(changes: list[str]) -> str:
    """Changes joined on one line, a long list cut short."""
    shown = changes[:MAX_LISTED]
    rest = len(changes) - len(shown)
    return ", ".join(shown) + (f", and {rest} more" if rest else "")


def describe_drift(changes: list[str]) -> str:
    """`as recorded`, or `2 Debian packages differ from the recorded versions`."""
    if not changes:
        return "as recorded"
    count = len(changes)
    noun = "package differs" if count == 1 else "packages differ"
    return f"{count} Debian {noun} from the recorded versions"
