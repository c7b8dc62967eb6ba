"""Unit tests for the environment compared fact by fact: the image's, the lock's, the machine's."""

import hashlib

from lockstep.history import facts, replay
from lockstep.history.verdict import Fact
from lockstep.records import lineage

MACHINE = {
    "cpu": {"model": "Haswell", "cpus": 2},
    "thread_pools": [{"internal_api": "openblas", "version": "0.3", "num_threads": 2}],
    "env": {},
}


class Labels:
    """An engine that knows one image's labels."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.found = labels

    def labels(self, ref: str) -> dict[str, str]:
        return self.found


def test_the_environment_is_compared_with_the_record_fact_by_fact(tmp_path, environment):
    (tmp_path / "poetry.lock").write_text("# lock\n")
    recorded = environment(commit="c" * 40, dirty=True, machine=MACHINE)
    run = lineage.StageRun(recorded, {}, "2026-12-01T00:00:00Z")
    labels = {"io.lockstep.fingerprint": "f", "io.lockstep.python": "3.11", "io.lockstep.dvc": "3"}
    past = replay.Replay(
        None,
        Labels(labels),
        "A",
        "d" * 40,
        lineage.LineageRecord({"t": run}),
        "sha256:1",
        run,
        tmp_path,
    )
    here = {**MACHINE, "env": {"OMP_NUM_THREADS": "4"}}

    found = {fact.name: fact for fact in facts.environment(past, here)}

    assert found["image id"] == Fact("image id", "sha256:1", "sha256:1")
    assert found["environment fingerprint"].same() and found["Python"].same()
    assert found["base image"] == Fact("base image", "b", facts.UNSET)  # no label
    locked = hashlib.sha256(b"# lock\n").hexdigest()
    assert found["poetry.lock sha256"] == Fact("poetry.lock sha256", "l", locked)
    assert found["image tag"].same() is None
    assert found["commit the stages ran at"].recorded == "c" * 40 + " (with uncommitted changes)"
    # The machine's, grouped and named as their causes are: variables, BLAS, then the CPU.
    names = list(found)[list(found).index("commit the stages ran at") + 1 :]
    assert names == [
        "env OMP_NUM_THREADS",
        "openblas 0.3 num_threads",
        "cpu cpus",
        "cpu model",
    ]
    assert found["env OMP_NUM_THREADS"] == Fact("env OMP_NUM_THREADS", "unset", "4")
    assert found["cpu model"].same()


def test_a_record_without_machine_facts_says_so():
    found = facts.machine_facts(None, MACHINE)
    assert {fact.recorded for fact in found} == {facts.NOT_RECORDED}
    assert [fact.rerun for fact in found] == ["2", "2", "Haswell"]
