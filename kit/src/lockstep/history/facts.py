"""The environment a result recorded against its rerun's, fact by fact.

The image's facts (its id, and the labels the build wrote: fingerprint, base, Python, DVC),
the lock's sha256, the commit the stages ran at, and the machine's facts (variables, BLAS,
CPU), grouped and named as `lockstep.history.causes` names them. A verdict shows them side by
side (`lockstep.history.verdict.Fact`).
"""

from __future__ import annotations

import hashlib

from lockstep.history import causes, replay
from lockstep.history.verdict import Fact
from lockstep.images import builder

UNSET = "unset"  # a fact one side has and the other has not (a variable set on one machine)
NOT_RECORDED = "not recorded"  # the machine, by a record made before the kit kept it


def environment(past: replay.Replay, here: dict) -> list[Fact]:
    """The environment `past` recorded against the rerun's, whose machine facts are `here`.

    The rerun's image facts are the labels of the image it ran (the build wrote them, and the
    lineage copied them from there), its lock is the revision's poetry.lock.
    """
    env = past.run.environment
    labels = past.engine.labels(past.image_id)

    def label(name: str) -> str:
        return labels.get(f"{builder.LABEL}.{name}") or UNSET

    lock = past.tree / "poetry.lock"
    locked = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else UNSET
    dirty = " (with uncommitted changes)" if env.dirty else ""
    facts = [
        Fact("image id", env.image_id or UNSET, past.image_id),
        Fact("image tag", env.image_tag or UNSET, None),
        Fact("environment fingerprint", env.fingerprint or UNSET, label("fingerprint")),
        Fact("base image", env.base_image or UNSET, label("base")),
        Fact("Python", env.python_version, label("python")),
        Fact("DVC", env.dvc_version, label("dvc")),
        Fact("poetry.lock sha256", env.lock_sha256, locked),
        Fact("commit the stages ran at", env.commit + dirty, None),
    ]
    return facts + machine_facts(causes.facts(past.record), here)


def machine_facts(recorded: dict | None, here: dict) -> list[Fact]:
    """The machine's facts on both sides, named and grouped as `causes.machine_groups` does."""
    new = causes.machine_groups(here)
    old = causes.machine_groups(recorded) if recorded else [{}] * len(new)
    facts = []
    for before, after in zip(old, new, strict=True):
        for name in sorted(before.keys() | after.keys()):
            was = _fact(before, name) if recorded else NOT_RECORDED
            facts.append(Fact(name, was, _fact(after, name)))
    return facts


def _fact(values: dict, name: str) -> str:
    return causes.show(values[name]) if name in values else UNSET
