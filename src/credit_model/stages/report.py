"""Render the validation report: one self-contained HTML page, the same bytes for the same inputs.

It shows the metrics with their definitions, evaluate's plots as charts, the data window, the
params and the environment. Everything on it comes from the stage's declared inputs: the plot
tables and metrics, the feature sets, params.yaml, environment.yaml (the fingerprint, the
runtime image and its SBOM's summary) and poetry.lock. The commit is not on it: the page is made
before the commit that records it (the lineage names it, for every stage). The Python
version is given as major.minor: its patch release differs between a native run and the image
while every output stays the same (the lineage records it, with the image).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import pandas as pd
from lockstep.files import atomic_write
from lockstep.pages import charts as pages_charts
from lockstep.pages import document
from lockstep.runtime import params as runtime_params
from lockstep.runtime import stage

from credit_model import charts, params
from credit_model.definitions import DEFINITIONS
from credit_model.stages.features import TARGET

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# The libraries that compute and draw the results; their versions come from poetry.lock.
KEY_LIBRARIES = ("numpy", "pandas", "pyarrow", "scikit-learn", "matplotlib", "jinja2")
# The params sections the page shows: the stages', in pipeline order.
SECTIONS = ("ingest", "features", "train", "evaluate")


def window(sets: dict[str, pd.DataFrame]) -> list[dict]:
    """For each named set: its first and last month, months, rows and defaults."""
    return [
        {
            "set": name,
            "first": frame["month"].min(),
            "last": frame["month"].max(),
            "months": frame["month"].nunique(),
            "rows": len(frame),
            "defaults": int(frame[TARGET].sum()),
        }
        for name, frame in sets.items()
    ]


def environment(recorded: dict, lock: Path) -> dict:
    """What the stage can know of its environment from its own inputs.

    `recorded` is environment.yaml: the fingerprint and, once `invoke build` made it, the runtime
    image with its SBOM's digest and counts (an image id is the same on any engine that builds
    the same inputs, so the page's bytes are too).
    """
    return {
        "fingerprint": recorded["fingerprint"],
        "image": recorded.get("image"),
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest(),
        "python": "{}.{}".format(*sys.version_info[:2]),
        "libraries": {name: metadata.version(name) for name in KEY_LIBRARIES},
    }


def render(
    metrics: dict,
    plots: dict[str, pd.DataFrame],
    data_window: list[dict],
    settings: dict[str, dict],
    env: dict,
) -> str:
    """The page, from the metrics, the plot tables, the window, the params and the environment."""
    drawn = {
        name: pages_charts.svg(name, functools.partial(draw, table=plots[name]))
        for name, draw in charts.DRAW.items()
    }
    return document.render(
        TEMPLATES,
        "report.html.j2",
        metrics=metrics,
        definitions=DEFINITIONS,
        charts=drawn,
        window=data_window,
        params=settings,
        environment=env,
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point used by dvc.yaml."""
    parser = stage.parser("credit_model.stages.report", __doc__)
    parser.add_argument("--metrics", type=Path, required=True, help="evaluate's metrics JSON")
    parser.add_argument("--plots", type=Path, required=True, help="evaluate's plot folder (CSV)")
    parser.add_argument("--train", type=Path, required=True, help="training set (parquet)")
    parser.add_argument("--test", type=Path, required=True, help="out-of-time test set (parquet)")
    parser.add_argument("--environment", type=Path, required=True, help="environment.yaml")
    parser.add_argument("--lock", type=Path, required=True, help="poetry.lock")
    parser.add_argument("--out", type=Path, required=True, help="HTML page to write")

    def body(args):
        columns = ["month", TARGET]
        sets = {
            name: pd.read_parquet(path, columns=columns)
            for name, path in (("training", args.train), ("out-of-time test", args.test))
        }
        page = render(
            json.loads(args.metrics.read_text()),
            {name: pd.read_csv(args.plots / f"{name}.csv") for name in charts.DRAW},
            window(sets),
            {name: asdict(params.load(args.params, name)) for name in SECTIONS},
            environment(runtime_params.read(args.environment), args.lock),
        )
        atomic_write(args.out, page.encode())

    return stage.main(body, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
