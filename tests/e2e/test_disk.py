"""A full, read-only or foreign disk never stops the daemon nor fails a job.

Each test mounts a small tmpfs (root only; skipped elsewhere) where one of
nemowatch's folders lives, fills it, and checks that the work that writes
there waits, visibly, and goes on by itself once space is freed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devkit.daemon import Daemon
from devkit.disks import fill, small_disk
from devkit.waits import wait_for

FAST_DISK = {"disk_check_seconds": 0.3}


def _condition(daemon: Daemon, name: str) -> dict[str, Any] | None:
    try:
        conditions = daemon.status()["conditions"]
    except (OSError, ValueError):
        return None
    return next((c for c in conditions if c["name"] == name), None)


def test_a_full_work_folder_holds_claims_until_space_is_freed(
    make_daemon: Any, sample_video: Path, tmp_path: Path
) -> None:
    daemon: Daemon = make_daemon(watch=FAST_DISK)
    with small_disk(daemon.inbox, 8):
        daemon.drop_pair(sample_video, "roomless")
        filler = fill(daemon.inbox)
        daemon.start()
        held = wait_for(lambda: _condition(daemon, "disk"), 20, "the disk condition")
        assert "work folder" in held["reason"] and "full" in held["reason"]
        assert "MB free" in held["reason"]
        assert daemon.running(), "a full disk never stops the daemon"
        assert (daemon.inbox / "roomless.mp4").exists(), "the files wait where they are"
        filler.unlink()
        wait_for(daemon.outputs, 40, "the result once space was freed")
        assert _condition(daemon, "disk") is None
        assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1


def test_a_full_outbox_holds_the_download_and_pays_nothing_twice(
    make_daemon: Any, sample_video: Path
) -> None:
    daemon: Daemon = make_daemon(watch=FAST_DISK)
    with small_disk(daemon.outbox, 8):
        filler = fill(daemon.outbox)
        daemon.start()
        daemon.drop_pair(sample_video, "later")
        held = wait_for(lambda: _condition(daemon, "disk"), 40, "the disk condition")
        assert "outbox" in held["reason"]
        (job,) = daemon.work_jobs()
        assert job["stage"] == "downloading"
        assert not list(daemon.outbox.glob(".nw-*.part")), "no partial file left to fill it"
        filler.unlink()
        wait_for(daemon.outputs, 40, "the result once space was freed")
        assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
    assert len(daemon.calls("render_submit")) == 1


def test_a_full_state_folder_keeps_the_token_in_memory(
    make_daemon: Any, sample_video: Path
) -> None:
    daemon: Daemon = make_daemon(watch=FAST_DISK)
    with small_disk(daemon.state, 1):
        fill(daemon.state)
        daemon.start(wait=False)
        wait_for(lambda: "watching" in daemon.log_text(), 20, "the daemon to start")
        for name in ("one", "two"):
            daemon.drop_pair(sample_video, name)
            wait_for(lambda n=name: daemon.outbox / f"{n}.mp4" in daemon.outputs(), 40, name)
        assert "the token cache cannot be saved" in daemon.log_text()
        assert len(daemon.calls("anonymous_token")) == 1, "one token, kept in memory"
        assert daemon.stop() == 0


def test_a_file_that_cannot_be_moved_waits_with_its_reason_and_others_go_on(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.drop_pair(sample_video, "stuck")
    stuck = daemon.inbox / "stuck.mp4"
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode:
        pytest.skip("chattr +i is not supported on this filesystem")
    try:
        daemon.start()
        daemon.drop_pair(sample_video, "free")
        wait_for(lambda: daemon.outbox / "free.mp4" in daemon.outputs(), 40, "the other job")
        waiting = wait_for(
            lambda: [w for w in daemon.status()["waiting"] if "stuck" in w["path"]],
            20,
            "the stuck job listed as waiting",
        )
        assert "cannot be moved into the work folder" in waiting[0]["reason"]
        assert stuck.exists() and (daemon.inbox / "stuck.txt").exists(), "nothing half-moved"
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)
    wait_for(lambda: daemon.outbox / "stuck.mp4" in daemon.outputs(), 40, "once it can move")
    assert daemon.stop() == 0


def test_a_work_folder_on_another_filesystem_holds_claims_and_says_why(
    make_daemon: Any, sample_video: Path, tmp_path: Path
) -> None:
    work = tmp_path / "elsewhere"
    with small_disk(work, 16):
        daemon: Daemon = make_daemon(folders={"work": str(work)}, watch=FAST_DISK)
        daemon.start()
        daemon.drop_pair(sample_video, "far")
        held = wait_for(lambda: _condition(daemon, "disk"), 20, "the disk condition")
        assert "another filesystem" in held["reason"]
        assert daemon.running()
        assert (daemon.inbox / "far.mp4").exists()
        assert daemon.stop() == 0
    shutil.rmtree(work, ignore_errors=True)
