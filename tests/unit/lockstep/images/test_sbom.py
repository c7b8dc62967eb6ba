"""The SBOM document: every installed package a component, the same bytes for the same image."""

from __future__ import annotations

import json
from pathlib import Path

from lockstep.images import sbom

IMAGE = "sha256:" + "ab" * 32
CREATED = "2023-11-14T22:13:20Z"
FOUND = sbom.Inventory(
    debian=(("libc6", "2.36-9+deb12u14", "amd64"), ("tzdata", "2026f-0+deb12u1", "all")),
    python=(
        ("GitPython", "3.2.1", "/opt/venv/lib/python3.11/site-packages"),
        ("scikit_learn", "1.9.1", "/opt/venv/lib/python3.11/site-packages"),
        ("pip", "23.0.1", "/usr/lib/python3/dist-packages"),
    ),
)


def test_every_package_and_distribution_is_a_component_with_its_package_url() -> None:
    doc = json.loads(sbom.document(IMAGE, CREATED, "credit-model", FOUND))
    purls = sorted(component["purl"] for component in doc["components"])
    assert purls == [
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64",
        "pkg:deb/debian/tzdata@2026f-0%2Bdeb12u1?arch=all",
        "pkg:pypi/gitpython@3.2.1",
        "pkg:pypi/pip@23.0.1",
        "pkg:pypi/scikit-learn@1.9.1",
    ]
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    described = doc["metadata"]["component"]
    assert (described["type"], described["name"], described["version"]) == (
        "container",
        "credit-model",
        IMAGE,
    )
    root = next(item for item in doc["dependencies"] if item["ref"] == IMAGE)
    assert len(root["dependsOn"]) == len(doc["components"])


def test_the_same_image_gives_the_same_bytes_and_another_image_other_ones() -> None:
    once = sbom.document(IMAGE, CREATED, "credit-model", FOUND)
    again = sbom.document(IMAGE, CREATED, "credit-model", FOUND)
    assert once == again and sbom.digest(once) == sbom.digest(again)
    assert json.loads(once)["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    other = sbom.document("sha256:" + "cd" * 32, CREATED, "credit-model", FOUND)
    assert json.loads(other)["serialNumber"] != json.loads(once)["serialNumber"]


def test_a_kept_sbom_is_named_by_its_image_and_pruned_when_no_stage_names_it(tmp_path) -> None:
    text = sbom.document(IMAGE, CREATED, "credit-model", FOUND)
    described = sbom.Described(sbom.path(tmp_path, IMAGE), text, sbom.digest(text))
    described.keep()
    kept = tmp_path / "reports/sbom/abababababab.cdx.json"
    assert kept.read_text() == text + "\n"
    other = sbom.path(tmp_path, "sha256:" + "cd" * 32)
    other.write_text("{}")

    sbom.prune(tmp_path, {IMAGE})

    assert kept.exists() and not other.exists()


def test_the_summary_counts_debian_packages_and_python_distributions() -> None:
    text = sbom.document(IMAGE, CREATED, "credit-model", FOUND)
    described = sbom.Described(sbom.path(Path("/project"), IMAGE), text, sbom.digest(text))
    assert described.summary() == {
        "sbom": sbom.digest(text),
        "debian_packages": 2,
        "python_distributions": 3,
    }
