"""environment.yaml: written only when what it records changes."""

import yaml
from lockstep.records.environment import ENVIRONMENT_FILE, write_environment


def test_environment_yaml_records_the_image_and_is_rewritten_only_on_a_change(tmp_path):
    path = tmp_path / ENVIRONMENT_FILE
    image = {"id": "sha256:1", "sbom": "sha256:2", "debian_packages": 3, "python_distributions": 4}
    write_environment(tmp_path, "f1", image)
    assert yaml.safe_load(path.read_text()) == {"fingerprint": "f1", "image": image}
    written = path.stat().st_mtime_ns

    write_environment(tmp_path, "f1", dict(image))  # the same values: left alone
    write_environment(tmp_path, "f1")  # a run outside the image keeps the image
    assert path.stat().st_mtime_ns == written

    write_environment(tmp_path, "f2")  # another environment: that image is not its
    assert yaml.safe_load(path.read_text()) == {"fingerprint": "f2", "image": None}
