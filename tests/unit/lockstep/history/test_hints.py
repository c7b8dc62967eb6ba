import pytest
from lockstep.history import hints


@pytest.mark.parametrize(
    ("params", "cmd", "expected"),
    [
        ({"train": {"n_jobs": 2}}, "", ["params.yaml train.n_jobs = 2"]),
        ({"train.nthread": -1}, "", ["params.yaml train.nthread = -1"]),
        ({"fit": {"xgb": {"num_threads": 0}}}, "", ["params.yaml fit.xgb.num_threads = 0"]),
        ({"train": {"random_state": None}}, "", ["params.yaml train.random_state = None"]),
        ({}, "OMP_NUM_THREADS=4 python fit.py", ["its cmd sets OMP_NUM_THREADS=4"]),
        ({"train": {"n_jobs": 1, "workers": 1, "seed": 7, "rate": None}}, "", []),
        (
            {},
            ["MKL_NUM_THREADS=1 python a.py", "OPENBLAS_NUM_THREADS=8 b"],
            ["its cmd sets OPENBLAS_NUM_THREADS=8"],
        ),
    ],
)
def test_suspects_of_nondeterminism(params, cmd, expected):
    entry = {"cmd": cmd, "params": {"params.yaml": params}} if params else {"cmd": cmd}
    found = hints.suspects("train", entry)
    assert [line.split(" (")[0] for line in found] == [
        f"hint: stage train: {text}" for text in expected
    ]
    assert all("set it to" in line for line in found)
