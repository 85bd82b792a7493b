"""The daemon's `flock` locks: one holder, named to the second; a probe that does not take it."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from nemowatch.errors import AlreadyRunningError
from nemowatch.lock import DaemonLock, DaemonLocks, holder

#: a second process that holds the lock until its stdin closes
HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from nemowatch.lock import DaemonLock
    lock = DaemonLock(Path(sys.argv[1]))
    lock.acquire()
    print("held", flush=True)
    sys.stdin.read()
    """
)


def hold_in_another_process(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_second_holder_is_refused_with_the_first_ones_pid_host_and_time(tmp_path: Path) -> None:
    path = tmp_path / "work" / "daemon.lock"
    other = hold_in_another_process(path)
    try:
        with pytest.raises(AlreadyRunningError) as refused:
            DaemonLock(path).acquire(wait=0.3)
        assert f"pid {other.pid} on {os.uname().nodename}, since " in str(refused.value)
        found = holder(path)
        assert found is not None and found.pid == other.pid
    finally:
        release(other)
    assert holder(path) is None, "a lock whose holder exited is free"
    lock = DaemonLock(path)
    lock.acquire(wait=0)
    lock.release()


def test_a_lock_survives_another_close_of_the_same_file_in_the_process(tmp_path: Path) -> None:
    """flock, not fcntl: closing another descriptor of the file must not drop the lock."""
    path = tmp_path / "daemon.lock"
    lock = DaemonLock(path)
    lock.acquire()
    try:
        path.read_bytes()  # opens and closes the file: a POSIX fcntl lock would be gone now
        found = holder(path)
        assert found is not None and found.pid == os.getpid()
        with pytest.raises(AlreadyRunningError):
            DaemonLock(path).acquire(wait=0)
    finally:
        lock.release()


def test_a_daemon_starting_during_a_status_probe_waits_it_out(tmp_path: Path) -> None:
    """`status` holds a shared lock for an instant; a daemon starting then tries again."""
    path = tmp_path / "daemon.lock"
    path.touch()
    probe = os.open(path, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH)
    timer = threading.Timer(0.4, os.close, [probe])
    timer.start()
    lock = DaemonLock(path)
    try:
        lock.acquire(wait=3)
        found = holder(path)
        assert found is not None and found.pid == os.getpid()
    finally:
        timer.join()
        lock.release()


def test_one_lock_when_work_and_state_are_the_same_folder(tmp_path: Path) -> None:
    locks = DaemonLocks([tmp_path, tmp_path / "."])
    locks.acquire()  # a second flock of the same file from this process would refuse itself
    locks.release()


def test_locks_taken_in_part_are_given_back_when_one_is_refused(tmp_path: Path) -> None:
    work, state = tmp_path / "work", tmp_path / "state"
    other = hold_in_another_process(state / "daemon.lock")
    try:
        locks = DaemonLocks([work, state])
        with pytest.raises(AlreadyRunningError):
            locks.acquire()
        assert holder(work / "daemon.lock") is None
    finally:
        release(other)


def test_a_deleted_work_folder_gets_its_lock_back_at_the_next_check(tmp_path: Path) -> None:
    work = tmp_path / "work"
    locks = DaemonLocks([work])
    locks.acquire()
    try:
        shutil.rmtree(work)
        assert holder(work / "daemon.lock") is None
        locks.check()
        found = holder(work / "daemon.lock")
        assert found is not None and found.pid == os.getpid()
    finally:
        locks.release()
