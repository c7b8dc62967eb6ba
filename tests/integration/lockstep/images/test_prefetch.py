"""The early download: started only when a build will fetch from the live mirror, and taken
only when it fetched what the rung asks for. (A download that is taken: test_base's drift.)"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from lockstep import config, paths
from lockstep.images import manifest, prefetch

MANIFEST = "docker/base/packages.lock"
# The discard port: nothing answers there, so the download fails at once.
UNREACHABLE = "http://127.0.0.1:9/debian"


def configure(root: Path, lines: str) -> config.Settings:
    path = root / "pyproject.toml"
    path.write_text(
        path.read_text().replace("[tool.lockstep.base]\n", f"[tool.lockstep.base]\n{lines}")
    )
    return config.load(root)


def test_no_download_when_the_engine_holds_the_recorded_base_or_a_snapshot_comes_first(kit):
    root = kit.copy("prefetch-needed")
    recorded = manifest.read(root / MANIFEST)
    assert prefetch.needed(root) is None  # the session's base is in the engine

    dataclasses.replace(recorded, image="").write(root / MANIFEST)
    settings = config.load(root)
    assert prefetch.needed(root) == prefetch.live_mirror(settings.base)
    assert prefetch.needed(root).include == tuple(sorted(settings.base.packages))

    configure(root, 'snapshot = "20261128T000000Z"\nsnapshot_mirrors = ["http://x/{snapshot}"]\n')
    assert prefetch.needed(root) is None


def test_a_failed_download_is_said_and_passed_over_and_another_request_is_not_taken(
    kit, capfd
) -> None:
    root = kit.copy("prefetch-failed")
    recorded = manifest.read(root / MANIFEST)
    dataclasses.replace(recorded, image="").write(root / MANIFEST)
    settings = configure(root, f'mirrors = ["{UNREACHABLE}"]\n')
    request = prefetch.live_mirror(settings.base)

    prefetch.start(root)
    with prefetch.claimed(root, request._replace(epoch=1)) as other:
        assert other is None
    assert not (root / paths.PREFETCH).exists()

    prefetch.start(root)
    with prefetch.claimed(root, request) as failed:
        assert failed is None
    output = capfd.readouterr().err
    assert "base: the early download failed (mmdebstrap failed: " in output, output
    (log,) = re.findall(r"its log: (\S+)\)", output)
    assert "$ mmdebstrap " in Path(log).read_text()
    assert not (root / paths.PREFETCH).exists()
