"""`lockstep.run.sweep`'s grid: the -S options after --, DVC's own expansion, and its errors."""

from __future__ import annotations

import pytest
from lockstep.errors import ConfigError
from lockstep.run import sweep


def test_value_lists_are_swept_as_dvc_would_per_params_file() -> None:
    points = sweep.grid(["train.max_iter=20,30", "train.seed=7", "other.yaml:a=1,2"])
    assert points == [
        {"params.yaml": ["train.max_iter=20", "train.seed=7"], "other.yaml": ["a=1"]},
        {"params.yaml": ["train.max_iter=20", "train.seed=7"], "other.yaml": ["a=2"]},
        {"params.yaml": ["train.max_iter=30", "train.seed=7"], "other.yaml": ["a=1"]},
        {"params.yaml": ["train.max_iter=30", "train.seed=7"], "other.yaml": ["a=2"]},
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([], "a sweep needs params to vary"),
        (["train.max_iter=[1,"], "cannot read -S train.max_iter=[1,: "),
    ],
)
def test_params_dvc_cannot_read_are_one_line(params, message) -> None:
    with pytest.raises(ConfigError) as caught:
        sweep.grid(params)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert "-S 'train.C=0.1,1'" in str(caught.value)


def test_the_params_are_the_set_param_options_after_the_dashes() -> None:
    args = ["-S", "train.C=0.1,1", "--set-param", "evaluate.threshold=0.5"]
    assert sweep.set_params(args) == ["train.C=0.1,1", "evaluate.threshold=0.5"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-S"], "argument -S/--set-param: expected one argument; "),
        (["-S", "a=1", "--queue", "x"], "after --, only -S/--set-param, not --queue x; "),
    ],
)
def test_anything_else_after_the_dashes_is_one_line(args, message) -> None:
    with pytest.raises(ConfigError) as caught:
        sweep.set_params(args)
    assert str(caught.value) == message + sweep.SYNTAX_HINT
