import pytest
from lockstep import workspace
from lockstep.errors import WorkspaceBusyError


def test_second_holder_is_refused_naming_the_first(tmp_path):
    busy = pytest.raises(WorkspaceBusyError, match=r"`invoke repro` \(pid \d+")
    with workspace.locked(tmp_path, "invoke repro"), busy, workspace.locked(tmp_path, "other"):
        pass


def test_lock_is_released_on_error(tmp_path):
    with pytest.raises(RuntimeError), workspace.locked(tmp_path, "first"):
        raise RuntimeError
    with workspace.locked(tmp_path, "second"):
        pass
