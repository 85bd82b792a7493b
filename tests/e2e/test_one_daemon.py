"""One daemon per inbox and per state folder: a second `nemowatch run` is refused, whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for
from nemowatch.lock import holder


def test_a_second_daemon_exits_3_naming_the_first_and_nothing_is_paid_twice(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.start()
    second = daemon.cli("run", timeout=30)
    assert second.returncode == 3, second.stdout + second.stderr
    assert "another nemowatch daemon" in second.stderr
    assert f"pid {daemon.pid} on " in second.stderr, second.stderr
    # it left the first daemon's status file alone (it wrote nothing)
    assert daemon.status()["pid"] == daemon.pid and not daemon.status()["stopped"]

    shown = daemon.cli("status")
    assert f"nemowatch is running (pid {daemon.pid} on " in shown.stdout, shown.stdout

    daemon.drop_pair(sample_video)
    wait_for(daemon.outputs, 40, "the result")
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
    assert "nemowatch is not running" in daemon.cli("status").stdout


def test_a_second_daemon_on_another_inbox_but_the_same_state_folder_is_refused(
    daemon: Daemon, make_daemon: Callable[..., Daemon]
) -> None:
    daemon.start()
    other = make_daemon(folders={"state": str(daemon.state)})
    other.start(wait=False)
    wait_for(other.exited, 30, "the second daemon to give up")
    assert other.proc is not None and other.proc.returncode == 3
    assert f"pid {daemon.pid} on " in other.log_text()
    assert daemon.running()
    assert daemon.stop() == 0


def test_a_daemon_whose_work_folder_was_deleted_locks_the_new_one(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    first = make_daemon(watch={"rescan_seconds": 0.5})
    first.start()
    lock = first.work / "daemon.lock"
    # the work folder is removed under the running daemon (a clean-up script, a user)
    for entry in sorted(first.work.rglob("*"), reverse=True):
        entry.rmdir() if entry.is_dir() else entry.unlink()
    first.work.rmdir()
    wait_for(lambda: holder(lock), 20, "the lock taken again")
    refused = first.cli("run", timeout=30)
    assert refused.returncode == 3, refused.stderr
    first.drop_pair(sample_video)
    wait_for(first.outputs, 40, "the result")
    assert first.stop() == 0
