"""YAML through libyaml: the same values as the pure parser, and the pure parser's errors."""

from __future__ import annotations

import pytest
import yaml
from lockstep import yamltext

# What the kit reads most: a dvc.lock (not the project's own: a new project has none yet).
DVC_LOCK = """\
schema: '2.0'
stages:
  train:
    cmd: python -m my_model.stages.train --in data/features.parquet
    deps:
    - path: data/features.parquet
      hash: md5
      md5: 0cc175b9c0f1b6a831c399e269772661
      size: 1024
    params:
      params.yaml:
        train.seed: 7
        train.rate: 0.05
        train.name: "gbm: fast"
        train.verbose: false
    outs:
    - path: outputs/model.pkl
      md5: 92eb5ffee6ae2fec3ad71c777531578f
      size: 2048
      isexec: no
"""


def test_a_dvc_lock_reads_as_the_pure_parser_reads_it():
    assert yamltext.load(DVC_LOCK) == yaml.load(DVC_LOCK, Loader=yaml.SafeLoader)
    assert yamltext.load(DVC_LOCK)["stages"]["train"]["outs"][0]["isexec"] is False


@pytest.mark.parametrize("text", ["fit:\n  seed: 3\n  rate: [0.5\n", "a: b: c\n", "- a\nb: 1\n"])
def test_a_refused_document_fails_with_the_pure_parsers_error(text):
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.load(text, Loader=yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError) as ours:
        yamltext.load(text)
    assert str(ours.value) == str(pure.value)
