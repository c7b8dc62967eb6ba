"""Load one section of a params file into a frozen dataclass, strictly.

A stage must never run on params it does not understand: a missing key, an unknown key, a wrong
type or an impossible value stops with one line naming the file, the key and what was expected.
Dataclasses validate their own values in `__post_init__` by raising `InvalidParamError`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from lockstep import yamltext
from lockstep.errors import ConfigError, InvalidParamError, ParamsError

T = TypeVar("T")


class _Strict:
    """For PyYAML's safe loaders: refuse a key given twice in one mapping.

    PyYAML keeps the last of two equal keys without a word; in params that hides a typo or a
    bad merge. Written here because PyYAML has no option for it, and the runtime image holds
    no other YAML library.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _StrictLoader(_Strict, yaml.SafeLoader):
    """The pure-Python safe loader, strict."""


class _FastStrictLoader(_Strict, yamltext.FAST_SAFE_LOADER):
    """The libyaml safe loader, strict (see lockstep.yamltext)."""


def read(path: Path) -> dict[str, Any]:
    """Parse a params file into a mapping of sections."""
    try:
        data = yamltext.load(Path(path).read_text(), _StrictLoader, _FastStrictLoader)
    except FileNotFoundError as exc:
        raise ParamsError(f"{path}: file not found", "create it or pass --params") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ParamsError(f"{path}:{where}: {problem}", "fix the file") from exc
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections", "see params.yaml")
    return data


def check(path: Path) -> None:
    """Check that a params file, when there is one, is a mapping of sections.

    What a project without a params schema of its own (one adopted by the kit) gets before a run:
    DVC would stop on a malformed file too, but later and less clearly.
    """
    if Path(path).exists():
        read(path)


def check_with(module: str, path: Path) -> None:
    """Check a params file with a project's own schema (`module.check`), or with `check`.

    Raises:
        ConfigError: the module cannot be imported or has no check function.
        ParamsError: the params file is wrong.
    """
    if not module:
        return check(path)
    try:
        checker = importlib.import_module(module).check
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"[tool.lockstep] params = {module!r}: no check(path) there ({exc})",
            "name the module that validates params.yaml, or remove the setting",
        ) from None
    return checker(path)


def load(path: Path, section: str, schema: type[T]) -> T:
    """Return `section` of the params file at `path` as an instance of `schema`.

    Raises:
        ParamsError: naming the file, the key and what was expected.
    """
    values = read(path).get(section)
    if not isinstance(values, dict):
        raise ParamsError(f"{path}: {section}: expected a mapping", f"add a '{section}:' section")
    return build(schema, values, f"{path}: {section}")


def build(schema: type[T], values: dict[str, Any], where: str) -> T:
    """Check `values` against the fields of `schema` and construct it."""
    hints = typing.get_type_hints(schema)
    names = [field.name for field in dataclasses.fields(schema)]
    for key in values:
        if key not in names:
            raise ParamsError(f"{where}.{key}: unknown key", f"expected one of {', '.join(names)}")
    for name in names:
        if name not in values:
            raise ParamsError(f"{where}.{name}: missing", f"add it ({_type_name(hints[name])})")
        _check_type(values[name], hints[name], f"{where}.{name}")
    # A float param written as 1 in YAML arrives as an int: hand the dataclass a float.
    values = {k: float(v) if hints[k] is float else v for k, v in values.items()}
    try:
        return schema(**values)
    except InvalidParamError as exc:
        raise ParamsError(f"{where}.{exc.key}: expected {exc.expected}", "fix the value") from exc


def _check_type(value: Any, expected: type, where: str) -> None:
    # YAML reads 1 as int; a float param accepts it. bool is an int in Python: refuse it.
    ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if ok and expected is float and not math.isfinite(value):
        # YAML spells them .inf and .nan; no param means either, and NaN fails far downstream.
        raise ParamsError(f"{where}: expected a finite number, got {value!r}", "fix the value")
    if not ok:
        raise ParamsError(
            f"{where}: expected {_type_name(expected)}, got {value!r}",
            "fix the value's type",
        )


def _type_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, kind.__name__
    )
