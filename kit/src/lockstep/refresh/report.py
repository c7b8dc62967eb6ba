"""The refresh report: `reports/refresh/report.{json,md,html}`; the exit code a scheduler reads."""

from __future__ import annotations

import json
from pathlib import Path

from lockstep.files import atomic_write
from lockstep.refresh import page
from lockstep.refresh.result import Refresh

REPORT_DIR = "reports/refresh"
# Exit codes: 0 for no action, 3 for "release recommended" (anything else is an error).
NO_ACTION_CODE, RELEASE_CODE = 0, 3


def publish(root: Path, found: Refresh) -> Refresh:
    """Write report.json, report.md and report.html under reports/refresh/; return `found`.

    The bootstrap's resampled gains are drawn on the page and kept out of report.json.
    """
    folder = root / REPORT_DIR
    text = json.dumps(found.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write(folder / "report.json", text.encode())
    atomic_write(folder / "report.md", markdown(found).encode())
    atomic_write(folder / "report.html", page.render(found).encode())
    return found


def markdown(found: Refresh) -> str:
    """The report for people."""
    champ, chall = found.champion, found.challenger
    lines = [
        f"# Model refresh: {found.decision}",
        "",
        found.reason,
        "",
        f"- champion: `{champ.tag}` ({(champ.commit or '')[:10]}), image `{champ.image_id or '-'}`",
        f"- challenger: experiment `{chall.experiment or '-'}`, image `{chall.image_id or '-'}`",
    ]
    if found.comparison:
        compared = found.comparison
        lines += [
            f"- holdout: {', '.join(found.holdout_months)} ({compared.rows} rows, "
            f"{compared.events} events)",
            "",
            "| metric | champion | challenger |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {value:.6f} | {compared.challenger_metrics[name]:.6f} |"
            for name, value in compared.champion_metrics.items()
        ]
    if found.promoted:
        lines += ["", f"Promoted: `{found.promoted}`."]
    return "\n".join(lines) + "\n"
