"""YAML through libyaml: the same values as the pure parser, and the pure parser's errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lockstep import yamltext

REPO = Path(__file__).resolve().parents[3]


def test_the_repos_yaml_files_read_as_the_pure_parser_reads_them():
    for name in ("dvc.lock", "dvc.yaml", "params.yaml"):
        text = (REPO / name).read_text()
        assert yamltext.load(text) == yaml.load(text, Loader=yaml.SafeLoader), name


@pytest.mark.parametrize("text", ["fit:\n  seed: 3\n  rate: [0.5\n", "a: b: c\n", "- a\nb: 1\n"])
def test_a_refused_document_fails_with_the_pure_parsers_error(text):
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.load(text, Loader=yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError) as ours:
        yamltext.load(text)
    assert str(ours.value) == str(pure.value)
