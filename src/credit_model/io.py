"""Deterministic file writers: the same data always gives the same bytes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from lockstep.files import atomic_write


def write_json(path: Path, payload: Any) -> None:
    """Write JSON with sorted keys and a trailing newline."""
    atomic_write(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as parquet without the index; pyarrow output is stable for equal input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False, compression="zstd")
    os.replace(tmp, path)


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as CSV with fixed float formatting."""
    atomic_write(path, frame.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode())
