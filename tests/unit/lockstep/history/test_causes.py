from lockstep.history import causes
from lockstep.records import lineage


def test_changes_name_each_key_that_differs():
    found = causes.changes("param", {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "d": 4})
    assert [c.what for c in found] == ["b: 2 -> 5", "c: 3 removed", "d: 4 added"]


def test_machine_changes_put_env_vars_before_the_kernels_they_choose(environment):
    def side(env, arch):
        facts = {
            "cpu": {"model": "x", "cpus": 2, "flags": ["avx2"]},
            "thread_pools": [{"internal_api": "openblas", "version": "0.3", "architecture": arch}],
            "env": env,
        }
        run = lineage.StageRun(environment(machine=facts), {}, "2026-12-01T00:00:00Z")
        return causes.facts(lineage.LineageRecord({"t": run}))

    found = causes.machine_changes(side({}, "Haswell"), side({"OPENBLAS_CORETYPE": "P"}, "Katmai"))
    assert causes.machine_changes(None, side({}, "Haswell")) == []
    assert found[0].what == "env OPENBLAS_CORETYPE: P added"
    assert "Haswell" in found[1].what and "Katmai" in found[1].what
