import json

import yaml
from lockstep import pipeline
from lockstep.config import Settings


class Probe:
    """A probe container's answer, counting how often it is started."""

    def __init__(self, image: str, answer: dict) -> None:
        self.image, self.answer, self.started = image, answer, 0

    def captured(self) -> str:
        self.started += 1
        return json.dumps(self.answer)


def test_machine_facts_are_asked_once_per_image_and_variables(tmp_path, monkeypatch):
    settings = Settings(root=tmp_path, image="img")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    probe = Probe("sha256:1", {"env": {}})
    assert pipeline.machine_facts(settings, probe) == {"env": {}}
    assert pipeline.machine_facts(settings, probe) == {"env": {}}
    assert probe.started == 1

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # another variable: asked again
    assert pipeline.machine_facts(settings, Probe("sha256:1", {"env": {"x": 1}})) == {
        "env": {"x": 1}
    }
    other = Probe("sha256:2", {"env": {}})  # another image: asked again
    pipeline.machine_facts(settings, other)
    assert other.started == 1


def test_environment_yaml_records_the_image_and_is_rewritten_only_on_a_change(tmp_path):
    path = tmp_path / pipeline.ENVIRONMENT_FILE
    image = {"id": "sha256:1", "sbom": "sha256:2", "debian_packages": 3, "python_distributions": 4}
    pipeline.write_environment(tmp_path, "f1", image)
    assert yaml.safe_load(path.read_text()) == {"fingerprint": "f1", "image": image}
    written = path.stat().st_mtime_ns

    pipeline.write_environment(tmp_path, "f1", dict(image))  # the same values: left alone
    pipeline.write_environment(tmp_path, "f1")  # a run outside the image keeps the image
    assert path.stat().st_mtime_ns == written

    pipeline.write_environment(tmp_path, "f2")  # another environment: that image is not its
    assert yaml.safe_load(path.read_text()) == {"fingerprint": "f2", "image": None}
