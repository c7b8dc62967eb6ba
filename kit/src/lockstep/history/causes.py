"""The causes `invoke diff` ranks, and the machine comparison `invoke rerun` also prints.

A cause is one difference between the inputs of two results, of one kind. The kinds are ranked
from the most upstream to the least (`lockstep.history.explain` says why in that order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lockstep.records import lineage

KINDS = ("param", "code", "data", "lock", "debian", "python", "image", "machine")


@dataclass(frozen=True)
class Cause:
    """One difference between the two results' inputs."""

    kind: str  # one of KINDS
    what: str
    order: int = 0  # within its kind: lower comes first

    def rank(self) -> tuple[int, int]:
        """Its kind's place in KINDS, then its order in the kind: lower comes first."""
        return KINDS.index(self.kind), self.order


def changes(kind: str, a: dict, b: dict) -> list[Cause]:
    """One cause per key whose value differs: `key: old -> new`, added or removed."""
    found = []
    for key in sorted(a.keys() | b.keys(), key=str):
        old, new = a.get(key), b.get(key)
        if key not in b:
            found.append(Cause(kind, f"{key}: {show(old)} removed"))
        elif key not in a:
            found.append(Cause(kind, f"{key}: {show(new)} added"))
        elif old != new:
            found.append(Cause(kind, f"{key}: {show(old)} -> {show(new)}"))
    return found


def machine_changes(old: dict | None, new: dict | None) -> list[Cause]:
    """The numeric env vars first, then BLAS kernels and threads, then the CPU.

    Nothing when either side's facts are unknown (a record made before they were kept).
    """
    if old is None or new is None:
        return []
    pairs = zip(machine_groups(old), machine_groups(new), strict=True)
    return [cause for pair in pairs for cause in changes("machine", *pair)]


def machine_groups(found: dict) -> list[dict[str, object]]:
    """A machine's facts by the names their causes take, in the causes' order of groups.

    The numeric env vars (`env OMP_NUM_THREADS`), then BLAS kernels and threads (`openblas
    0.3.21 num_threads`), then the CPU (`cpu model`).
    """
    return [
        _prefixed("env ", found["env"]),
        _pool_facts(found.get("thread_pools", [])),
        _prefixed("cpu ", found["cpu"]),
    ]


def facts(record: lineage.LineageRecord | None) -> dict | None:
    """The machine facts a lineage record holds (any stage's: one run records one machine)."""
    runs = record.stages.values() if record else []
    return next((run.environment.machine for run in runs if run.environment.machine), None)


def _prefixed(prefix: str, values: dict) -> dict:
    return {f"{prefix}{key}": value for key, value in values.items()}


def _pool_facts(pools: list[dict]) -> dict[str, object]:
    """Each library's facts by `library version fact`: a change names the one fact it is."""
    return {
        f"{pool.get('internal_api')} {pool.get('version')} {key}": value
        for pool in pools
        for key, value in pool.items()
        if key not in ("internal_api", "version")
    }


def show(value: object) -> str:
    """A value as a cause names it: floats to 6 significant digits, mappings as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
