import json

from lockstep.config import Settings
from lockstep.run import pipeline


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
