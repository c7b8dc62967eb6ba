"""What the signed record's tests share: a project a run left, a key, signing, a fake engine."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lockstep import git
from lockstep.config import Settings
from lockstep.records import keys, lineage, signing

LOCK = (
    "schema: '2.0'\n"
    "stages:\n"
    "  train:\n"
    "    outs:\n"
    "    - path: model.pkl\n"
    "      md5: m\n"
    "  evaluate:\n"
    "    outs:\n"
    "    - path: reports/metrics.json\n"
    "      md5: r\n"
    "    - path: plots\n"
    "      md5: p.dir\n"
)
FILES = {
    "model.pkl": b"a model",
    "reports/metrics.json": b'{"auc": 0.7}\n',
    "plots/roc.csv": b"fpr,tpr\n",
    "plots/deep/calibration.csv": b"p,o\n",
}


class Engine:
    """The engine's images by tag, all `verify` asks of it; its ID, which a rerun records."""

    def __init__(self, images: dict[str, str], engine_id: str = "0123:ABCD") -> None:
        self.images, self.id = images, engine_id

    def image_id(self, ref: str) -> str | None:
        return self.images.get(ref)

    def engine_id(self) -> str:
        return self.id


@pytest.fixture
def project(tmp_path, environment):
    """A project whose run left outputs, dvc.lock and lineage (one image, two stages)."""
    root = tmp_path / "project"
    for name, data in {"dvc.lock": LOCK.encode(), **FILES}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    lock = lineage.read_dvc_lock(root)
    lineage.update(root, ["train", "evaluate"], environment(sbom="sha256:s"), lock)
    return root


@pytest.fixture
def key(tmp_path, project, monkeypatch):
    """A key made by keygen outside the project, configured as a user would."""
    private, public = keys.keygen(project, str(tmp_path / "keys" / "signing-key.pem"))
    monkeypatch.setenv(keys.VARIABLE, str(private))
    return private, public


def signed(root) -> dict:
    """Sign the run recorded in `root`, as a run does; return the statement."""
    signing.after_run(Settings(root=root, image="img"), lineage.read(root / lineage.PATH))
    return payload(json.loads((root / signing.PATH).read_text()))


def commit_signed(root: Path, monkeypatch) -> None:
    """Sign the run, make `root` a git and DVC repository and commit it all."""
    # Not tests.support's: the kit's unit tests also run, unchanged, in every generated project.
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "lockstep tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@lockstep.invalid")
    signed(root)
    git.init(root)
    subprocess.run([Path(sys.executable).parent / "dvc", "init", "-q"], cwd=root, check=True)
    git.commit_all(root, "signed results")


def payload(envelope: dict) -> dict:
    """The statement a DSSE envelope holds."""
    return json.loads(base64.b64decode(envelope["payload"]))
