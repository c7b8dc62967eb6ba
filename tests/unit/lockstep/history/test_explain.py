import io
import tarfile

from lockstep.history import explain
from lockstep.history.causes import Cause
from lockstep.history.explain import Report

LOCK_A = """
[[package]]
name = "tqdm"
version = "4.70.1"
files = [{file = "tqdm-4.70.1-py3-none-any.whl", hash = "sha256:aa"}]

[[package]]
name = "six"
version = "1.17.0"
files = [{file = "six-1.17.0-py2.py3-none-any.whl", hash = "sha256:bb"}]
"""


def test_lock_changes_name_versions_and_hashes_under_one_version():
    bumped = LOCK_A.replace("4.70.1", "4.70.0").replace("sha256:bb", "sha256:cc")
    found = [c.what for c in explain.lock_changes(LOCK_A, bumped)]
    assert found == ["tqdm: 4.70.1 -> 4.70.0", "six 1.17.0: its files' hashes changed"]


def test_an_upstream_cause_ranks_above_its_consequences():
    report = Report("a", "b")
    report.causes = [
        Cause("image", "/opt/venv/lib/python3.11/site-packages/tqdm/std.py changed"),
        Cause("python", "tqdm: 4.70.1 -> 4.70.0"),
        Cause("machine", "env OMP_NUM_THREADS: 2 added"),
        Cause("lock", "tqdm: 4.70.1 -> 4.70.0"),
        Cause("code", "README.md changed", 1),
        Cause("code", "src/model/train.py changed", 0),
    ]
    report.outputs = ["model.pkl"]
    ranked = [(c.kind, c.what) for c in report.ranked()]
    assert ranked[:3] == [
        ("code", "src/model/train.py changed"),
        ("code", "README.md changed"),
        ("lock", "tqdm: 4.70.1 -> 4.70.0"),
    ]
    text = report.text()
    assert "   1. code     src/model/train.py changed" in text
    assert "  output   model.pkl" in text


def test_long_kinds_are_counted_not_listed():
    report = Report("a", "b")
    report.causes = [Cause("image", f"/f{i} changed") for i in range(explain.SHOWN + 3)]
    text = report.text()
    assert f"/f{explain.SHOWN - 1} changed" in text and f"/f{explain.SHOWN} " not in text
    assert "image    and 3 more" in text


def test_same_inputs_different_outputs_says_a_stage_is_not_deterministic():
    report = Report("a", "b", outputs=["model.pkl"])
    assert "a stage is not deterministic" in report.text()
    assert "no difference" in Report("a", "b").text()


def test_file_digests_ignore_timestamps_and_engine_files():
    def archive(mtime, content):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, data in (("etc/hostname", b"abc"), ("opt/x.py", content)):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), mtime
                tar.addfile(info, io.BytesIO(data))
        out.seek(0)
        return explain._digests(out)

    assert archive(1, b"same") == archive(2, b"same")
    assert list(archive(1, b"same")) == ["opt/x.py"]
    assert archive(1, b"same") != archive(1, b"other")
