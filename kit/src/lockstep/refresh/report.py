"""The refresh report: `reports/refresh/report.{json,md,html}`; the exit code a scheduler reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from lockstep.files import atomic_write
from lockstep.refresh import page

REPORT_DIR = "reports/refresh"
# Exit codes: 0 for no action, 3 for "release recommended" (anything else is an error).
NO_ACTION_CODE, RELEASE_CODE = 0, 3


def publish(root: Path, report: dict, code: int, gains: Sequence[float] = ()) -> dict:
    """Write report.json, report.md and report.html under reports/refresh/; add the exit code.

    `gains`, the bootstrap's resampled gains, are drawn on the page and kept out of report.json.
    """
    report = {**report, "exit_code": code}
    folder = root / REPORT_DIR
    atomic_write(
        folder / "report.json", (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
    )
    atomic_write(folder / "report.md", markdown(report).encode())
    atomic_write(folder / "report.html", page.render(report, gains).encode())
    return report


def markdown(report: dict) -> str:
    """The report for people."""
    champ, chall = report["champion"], report["challenger"]
    lines = [
        f"# Model refresh: {report['decision']}",
        "",
        report["reason"],
        "",
        f"- champion: `{champ['tag']}` ({champ['commit'][:10]}), "
        f"image `{champ.get('image_id', '-')}`",
        f"- challenger: experiment `{chall.get('experiment', '-')}`, "
        f"image `{chall.get('image_id', '-')}`",
    ]
    if "window" in report:
        window = report["window"]
        lines += [
            f"- holdout: {', '.join(window['holdout_months'])} ({window['rows']} rows, "
            f"{window['events']} events)",
            "",
            "| metric | champion | challenger |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {champ['metrics'][name]:.6f} | {chall['metrics'][name]:.6f} |"
            for name in champ["metrics"]
        ]
    if report.get("promoted"):
        lines += ["", f"Promoted: `{report['promoted']}`."]
    return "\n".join(lines) + "\n"
