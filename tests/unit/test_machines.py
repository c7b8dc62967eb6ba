"""The machine-wide locks that workers and two users' suites share (tests/support/machines.py)."""

import subprocess
import uuid

from tests.support import machines


def test_a_lock_file_another_user_made_is_taken():
    # The first suite of another user on this machine leaves its lock files behind; filelock
    # refused such a file in /tmp (a sticky folder), and every later suite failed at once.
    machines.require_root("a lock file made by another user")
    user = machines.plain_user("lockstep-it-locks")
    name = f"probe-{uuid.uuid4().hex[:8]}"
    path = machines.host_locks() / f"{name}.lock"
    subprocess.run(["touch", str(path)], user=user.pw_uid, check=True)
    try:
        assert path.stat().st_uid == user.pw_uid
        with machines.host_lock(name) as lock:
            assert lock.is_locked
    finally:
        path.unlink()
