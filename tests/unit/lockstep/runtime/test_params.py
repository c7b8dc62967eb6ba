"""Unit tests for lockstep.runtime.params: the strict, generic params loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lockstep.errors import InvalidParamError, ParamsError
from lockstep.runtime import params


@dataclass(frozen=True)
class Fit:
    seed: int
    rate: float
    name: str
    verbose: bool


@dataclass(frozen=True)
class Bounded:
    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise InvalidParamError("size", "an integer of at least 1")


GOOD = {"seed": 3, "rate": 0.5, "name": "gbm", "verbose": False}


def write(tmp_path: Path, data: object, name: str = "params.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def load_error(path: Path, section: str = "fit", schema: type = Fit) -> str:
    with pytest.raises(ParamsError) as info:
        params.load(path, section, schema)
    return str(info.value)


def test_load_valid_section(tmp_path: Path) -> None:
    path = write(tmp_path, {"fit": GOOD, "other": {"x": 1}})
    assert params.load(path, "fit", Fit) == Fit(seed=3, rate=0.5, name="gbm", verbose=False)


def test_missing_key_names_file_key_and_type(tmp_path: Path) -> None:
    path = write(tmp_path, {"fit": {k: v for k, v in GOOD.items() if k != "seed"}})
    message = load_error(path)
    assert str(path) in message
    assert "fit.seed" in message
    assert "missing" in message
    assert "an integer" in message


def test_unknown_key_names_it_and_lists_expected_keys(tmp_path: Path) -> None:
    path = write(tmp_path, {"fit": {**GOOD, "sede": 4}})
    message = load_error(path)
    assert str(path) in message
    assert "fit.sede" in message
    assert "unknown key" in message
    assert "seed, rate, name, verbose" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("seed", True, "an integer"),
        ("seed", "3", "an integer"),
        ("seed", 3.0, "an integer"),
        ("rate", "0.5", "a number"),
        ("rate", True, "a number"),
        ("name", 7, "a string"),
        ("verbose", 1, "true or false"),
        ("verbose", "yes please", "true or false"),
    ],
)
def test_wrong_type_names_key_expected_and_value(
    tmp_path: Path, key: str, value: object, expected: str
) -> None:
    path = write(tmp_path, {"fit": {**GOOD, key: value}})
    message = load_error(path)
    assert str(path) in message
    assert f"fit.{key}" in message
    assert f"expected {expected}" in message
    assert repr(value) in message


def test_yaml_bool_for_int_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("fit:\n  seed: yes\n  rate: 0.5\n  name: gbm\n  verbose: false\n")
    assert "fit.seed: expected an integer, got True" in load_error(path)


def test_float_param_given_as_int_becomes_float(tmp_path: Path) -> None:
    path = write(tmp_path, {"fit": {**GOOD, "rate": 1}})
    loaded = params.load(path, "fit", Fit)
    assert loaded.rate == 1.0
    assert type(loaded.rate) is float
    assert type(loaded.seed) is int


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("fit:\n  seed: 3\n  rate: [0.5\n")
    message = load_error(path)
    assert str(path) in message
    assert "line 4" in message


def test_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    message = load_error(path)
    assert str(path) in message
    assert "file not found" in message


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, ["fit", "train"])
    message = load_error(path)
    assert str(path) in message
    assert "expected a mapping of sections" in message


def test_section_missing(tmp_path: Path) -> None:
    path = write(tmp_path, {"train": GOOD})
    message = load_error(path)
    assert str(path) in message
    assert "fit: expected a mapping" in message
    assert "add a 'fit:' section" in message


def test_section_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, {"fit": [1, 2]})
    assert "fit: expected a mapping" in load_error(path)


def test_invalid_value_from_post_init_becomes_params_error(tmp_path: Path) -> None:
    path = write(tmp_path, {"bounded": {"size": 0}})
    with pytest.raises(ParamsError) as info:
        params.load(path, "bounded", Bounded)
    message = str(info.value)
    assert str(path) in message
    assert "bounded.size: expected an integer of at least 1" in message
    assert isinstance(info.value.__cause__, InvalidParamError)


def test_params_error_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, {"fit": {**GOOD, "seed": "x"}})
    assert "\n" not in load_error(path)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN"])
def test_a_number_that_is_not_finite_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(f"fit:\n  seed: 3\n  rate: {value}\n  name: gbm\n  verbose: false\n")
    assert "fit.rate: expected a finite number" in load_error(path)


def test_a_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("fit:\n  seed: 3\n  rate: 0.5\n  seed: 4\n  name: gbm\n  verbose: false\n")
    message = load_error(path)
    assert "line 4: duplicate key 'seed'" in message
    path.write_text("fit:\n  seed: 3\nfit:\n  seed: 4\n")
    assert "duplicate key 'fit'" in load_error(path)
