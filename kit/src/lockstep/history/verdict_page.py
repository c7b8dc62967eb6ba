"""`invoke rerun REV --html`: a rerun's verdict as a page, next to its signed verdict.

What matched and what did not, output by output and metric by metric, the environment the
revision recorded against the rerun's, and the likely causes rerun names. It renders the
`verdict.Verdict` as it is: no clock, no host name, so the same verdict gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lockstep.files import atomic_write
from lockstep.history.verdict import Verdict
from lockstep.pages import document
from lockstep.records.signing import RERUNS


@dataclass(frozen=True)
class Output:
    """One output's line on the page."""

    stage: str
    path: str
    status: str  # identical, DIFFERS, or why its differing bytes do not count
    matched: bool


def outputs(verdict: Verdict, tolerance: float | None) -> list[Output]:
    """Every output, with whether it matched; with a tolerance, metrics files' values decide."""
    binding = {path for _, path, _ in verdict.binding(tolerance)}
    found = []
    for stage, path, same in verdict.outputs:
        if same:
            found.append(Output(stage, path, "identical", True))
        elif path in binding:
            found.append(Output(stage, path, "DIFFERS", False))
        else:
            found.append(Output(stage, path, "bytes differ; its values are compared", True))
    return found


def render(verdict: Verdict, tolerance: float | None = None) -> str:
    """The verdict's page."""
    return document.render(
        document.SKELETON,
        "rerun.html.j2",
        verdict=verdict,
        headline=verdict.headline(tolerance),
        row=verdict.row(tolerance),
        tolerance=tolerance,
        outputs=outputs(verdict, tolerance),
    )


def write(root: Path, verdict: Verdict, tolerance: float | None = None) -> Path:
    """Write the page to reports/reruns/COMMIT.html, by the signed verdict; its path."""
    target = root / RERUNS / f"{verdict.commit}.html"
    atomic_write(target, render(verdict, tolerance).encode())
    return target
