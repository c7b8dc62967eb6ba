"""Deterministic file writers: the same data always gives the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from lockstep.files import atomic_write


def write_json(path: Path, payload: Any) -> None:
    """Write JSON with sorted keys and a trailing newline."""
    atomic_write(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as CSV without its index, with fixed float formatting."""
    atomic_write(path, frame.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode())
