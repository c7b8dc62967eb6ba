"""The rebuild rung's account of a mismatch: which packages an SBOM lists, at which versions."""

from __future__ import annotations

import json

from lockstep.images import rebuild


def sbom_of(*components: tuple[str, str, str]) -> str:
    """A CycloneDX document listing (kind, name, version) components, as the kit writes them."""
    listed = [
        {"name": name, "version": version, "purl": f"pkg:{kind}/{name}@{version}"}
        for kind, name, version in components
    ]
    return json.dumps({"bomFormat": "CycloneDX", "components": listed})


def test_packages_are_keyed_by_kind_and_name() -> None:
    text = sbom_of(("deb", "libzstd1", "1.5.4+dfsg2-5"), ("pypi", "numpy", "2.4.6"))
    assert rebuild.packages(text) == {
        ("deb", "libzstd1"): "1.5.4+dfsg2-5",
        ("pypi", "numpy"): "2.4.6",
    }


def test_a_debian_purl_with_a_namespace_is_a_deb() -> None:
    document = {
        "components": [
            {"name": "zlib1g", "version": "1", "purl": "pkg:deb/debian/zlib1g@1?arch=amd64"}
        ]
    }
    assert rebuild.packages(json.dumps(document)) == {("deb", "zlib1g"): "1"}


def test_a_mismatch_names_each_package_not_at_its_recorded_version() -> None:
    recorded = sbom_of(("deb", "libzstd1", "1.5.4+dfsg2-5"), ("pypi", "numpy", "2.4.6"))
    rebuilt = sbom_of(("deb", "libzstd1", "1.5.4+dfsg2-5+deb12u1"), ("pypi", "numpy", "2.4.6"))
    assert rebuild.mismatch(recorded, rebuilt) == (
        "not at their recorded versions: "
        "deb libzstd1 1.5.4+dfsg2-5 (rebuilt: 1.5.4+dfsg2-5+deb12u1)"
    )


def test_the_same_packages_say_the_assembly_differs() -> None:
    same = sbom_of(("pypi", "numpy", "2.4.6"))
    assert "every package at its recorded version" in rebuild.mismatch(same, same)


def test_a_long_list_is_cut() -> None:
    recorded = sbom_of(*[("pypi", f"p{n}", "1") for n in range(10)])
    rebuilt = sbom_of(*[("pypi", f"p{n}", "2") for n in range(10)])
    assert rebuild.mismatch(recorded, rebuilt).endswith(" and 4 more")
