"""The workspace lock: one holder, named to the next; held by the kit's operations themselves."""

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from lockstep import workspace
from lockstep.errors import WorkspaceBusyError
from lockstep.images import registry
from lockstep.refresh import cycle
from lockstep.run import devcontainer, pipeline, sweep
from lockstep.share import remote


def test_second_holder_is_refused_naming_the_first(tmp_path):
    busy = pytest.raises(WorkspaceBusyError, match=r"`invoke repro` \(pid \d+")
    with workspace.locked(tmp_path, "invoke repro"), busy, workspace.locked(tmp_path, "other"):
        pass


def test_two_clones_of_one_project_lock_only_themselves(tmp_path):
    """The lock is the workspace's file, not a name on the machine: clones in folders of the
    same name (one project, one image name) run at once, each still alone on its own."""
    one, two = (tmp_path / where / "project" for where in ("one", "two"))
    busy = pytest.raises(WorkspaceBusyError)
    with workspace.locked(one, "invoke repro"), workspace.locked(two, "invoke repro"):
        with busy, workspace.locked(one, "another"):
            pass
        with busy, workspace.locked(two, "another"):
            pass


def test_lock_is_released_on_error(tmp_path):
    with pytest.raises(RuntimeError), workspace.locked(tmp_path, "first"):
        raise RuntimeError
    with workspace.locked(tmp_path, "second"):
        pass


def test_an_operation_holds_the_lock_once_and_the_ones_it_calls_run_under_it(tmp_path):
    settings = SimpleNamespace(root=tmp_path)
    busy = pytest.raises(WorkspaceBusyError, match=r"`invoke outer` \(pid \d+")
    seen = []

    @workspace.exclusive("invoke inner")
    def inner(settings):
        seen.append("inner")
        with busy, workspace.locked(tmp_path, "another process"):
            pass

    @workspace.exclusive("invoke outer")
    def outer(settings):
        inner(settings)  # no deadlock, no refusal: the lock is outer's
        with busy, workspace.locked(tmp_path, "another process"):
            pass  # still held after the inner operation returned
        return "done"

    assert outer(settings) == "done" and seen == ["inner"]
    with workspace.locked(tmp_path, "after"):  # released once, at the end
        pass


def test_a_thread_an_operation_starts_does_not_hold_its_lock(tmp_path):
    def take() -> None:
        with workspace.held(tmp_path, "in a thread"):
            pass

    refused = pytest.raises(WorkspaceBusyError)
    with workspace.held(tmp_path, "invoke outer"), ThreadPoolExecutor() as pool, refused:
        pool.submit(take).result()


OPERATIONS = {
    "build": lambda s: pipeline.build(s),
    "repro": lambda s: pipeline.run(s, ["repro"]),
    "exp run": lambda s: pipeline.run(s, ["exp", "run"]),
    "sweep": lambda s: sweep.sweep(s, ["-S", "train.C=1"], on="local"),
    "devcontainer": lambda s: devcontainer.prepare(s),
    "push": lambda s: registry.push_recorded(s, None),
    "publish": lambda s: remote.publish(s, None),
    "pull": lambda s: remote.pull(s, None, "HEAD"),
    "refresh": lambda s: cycle.refresh(s, None),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_the_kits_operations_take_the_lock_themselves(tmp_path, name):
    """Called however (a task, another program), each waits for nothing and runs alone."""
    with (
        workspace.locked(tmp_path, "invoke repro"),
        pytest.raises(WorkspaceBusyError, match="the workspace is busy: `invoke repro`"),
    ):
        OPERATIONS[name](SimpleNamespace(root=tmp_path))
