"""The layer plan: heavy distributions alone, the tail in groups that a bump does not reshuffle."""

from __future__ import annotations

from pathlib import Path

from lockstep.images import layers
from lockstep.images.packages import Package

MB = 1024 * 1024


def package(name: str, size: int, version: str = "1.0") -> Package:
    return Package(name, version, f"{name}-{version}", Path("/nowhere"), size)


LOCK = [
    package("pyarrow", 170 * MB),
    package("scipy", 120 * MB),
    package("numpy", 60 * MB),
    *(package(f"small-{n}", (n % 7 + 1) * 100_000) for n in range(60)),
]


def by_name(plan: list[layers.Layer]) -> dict[str, tuple[str, ...]]:
    return {layer.name: tuple(f"{p.name} {p.version}" for p in layer.packages) for layer in plan}


def test_heavy_distributions_get_a_layer_each_first_and_the_tail_is_grouped():
    plan = layers.plan(LOCK)
    assert [layer.name for layer in plan[:3]] == ["numpy", "pyarrow", "scipy"]
    groups = plan[3:]
    assert 1 < len(groups) <= layers.GROUPS
    assert all(layer.name.startswith("group ") for layer in groups)
    assert sum(len(layer.packages) for layer in groups) == 60


def test_a_version_bump_changes_exactly_one_layer():
    before = layers.plan(LOCK)
    bumped = [package(p.name, p.size + 1234, "1.1") if p.name == "small-17" else p for p in LOCK]
    after = layers.plan(bumped)
    changed = [a.name for a, b in zip(before, after, strict=True) if a.key != b.key]
    assert len(changed) == 1
    assert "small-17 1.1" in by_name(after)[changed[0]]


def test_adding_a_distribution_touches_only_its_group():
    before, after = layers.plan(LOCK), layers.plan([*LOCK, package("newcomer", 50_000)])
    old, new = by_name(before), by_name(after)
    changed = {name for name in new if new[name] != old.get(name)}
    assert changed == {f"group {layers.group_of('newcomer') + 1}"}


def test_the_plan_does_not_depend_on_the_lock_order():
    assert by_name(layers.plan(LOCK)) == by_name(layers.plan(list(reversed(LOCK))))


def test_the_plan_table_names_every_layer_with_its_share():
    rows = [
        {"layer": "base", "bytes": 0, "history": "base image lockstep-base:abc"},
        {"layer": "numpy", "bytes": 60 * MB, "history": "packages: numpy 2.4.6"},
        {"layer": "group 1", "bytes": 20 * MB, "history": "packages: six 1.17.0, tqdm 4.70.1"},
    ]
    text = layers.table(rows)
    assert "numpy" in text and "75.0%" in text and "six 1.17.0, tqdm 4.70.1" in text
    assert text.splitlines()[-1].startswith("distributions of 8 MiB or more")
