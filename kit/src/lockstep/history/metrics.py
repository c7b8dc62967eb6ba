"""Reading DVC metrics: every metrics file of a revision or of a rerun, as flat numbers.

What a rerun compares (`lockstep.history.verdict`) and what `invoke diff` shows: DVC's own
collection of metrics files, each flattened to its numeric leaves by dotted path, or, when DVC
cannot read one, why.
"""

from __future__ import annotations

from pathlib import Path

from lockstep.errors import LockstepError, first_line
from lockstep.share import remote

MISSING = "missing"


def read_metrics(repo_dir: Path, commit: str | None = None) -> dict[str, dict[str, float] | str]:
    """Every metrics file DVC knows in a repository: its flattened values, or why it is unreadable.

    DVC's own collection, so nothing is missed: stages' `metrics:` and the top-level
    `metrics:` dvclive writes, files inside output directories, JSON, YAML or TOML. At
    `commit`, files come from git or, for DVC outputs, the DVC cache; else from the workspace.

    Raises:
        LockstepError: DVC cannot even list the metrics (a malformed dvc.yaml).
    """
    from dvc.repo import Repo  # heavy; only reruns need it

    # At a revision, a metric DVC lacks in the cache is read from the checkout's remote.
    pinned = remote.checkout_remote(repo_dir) if commit else {}
    with Repo(str(repo_dir), rev=commit, **pinned) as repo:
        # No `revs`: the one result is the revision the repository was opened at.
        (result,) = repo.metrics.show(hide_workspace=False, on_error="return").values()
    if "error" in result:
        raise LockstepError(
            f"DVC cannot list the metrics {f'at {commit}' if commit else 'of the rerun'}: "
            f"{first_line(result['error'])}",
            "check the revision's dvc.yaml with `dvc metrics show`",
        )
    return {
        path: flatten(found["data"]) if "data" in found else _why(found["error"])
        for path, found in result["data"].items()
    }


def metrics_only(tree: Path, output: str, metric_paths: set[str]) -> bool:
    """Whether an output is a directory of files in `tree`, every one a metrics file."""
    files = [path for path in (tree / output).rglob("*") if path.is_file()]
    return bool(files) and all(path.relative_to(tree).as_posix() in metric_paths for path in files)


def leaves(data, prefix: str = "") -> dict:
    """Every leaf of nested mappings, keyed by dotted path."""
    if not isinstance(data, dict):
        return {prefix.rstrip("."): data}
    out = {}
    for key, value in data.items():
        out.update(leaves(value, f"{prefix}{key}."))
    return out


def flatten(data) -> dict[str, float]:
    """Numeric leaves of nested metrics, keyed by dotted path."""
    return {
        key: float(value)
        for key, value in leaves(data).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _why(error: Exception) -> str:
    """Why DVC could not read a metrics file: missing (its errors vary), or DVC's reason."""
    # A DVC output whose file, or whose directory's listing, is not in the cache fails with
    # an OSError, or with DVC's own error caused by one.
    if isinstance(error, OSError) or isinstance(error.__cause__, OSError):
        return MISSING
    return first_line(error)
