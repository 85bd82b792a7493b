"""Removing a job's folder under work is how a user cancels by hand: it stays cancelled."""

from __future__ import annotations

import shutil
from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for


def test_a_job_whose_folder_is_removed_mid_turn_is_cancelled_and_never_recreated(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(turn_seconds=2)
    daemon.start()
    daemon.drop_pair(sample_video, "gone")
    wait_for(lambda: daemon.calls("run_sse"), 20, "the turn to start")
    (folder,) = [p for p in daemon.work.iterdir() if p.is_dir()]
    shutil.rmtree(folder)
    wait_for(lambda: "the job is cancelled" in daemon.log_text(), 20, "the cancellation")
    assert not folder.exists(), "a journal write must not bring the folder back"
    assert daemon.calls("render_submit") == [], "nothing more is done for a cancelled job"
    assert daemon.failures() == [] and daemon.outputs() == []

    # the daemon goes on with other work
    daemon.emulator.control.set(turn_seconds=0.3)
    daemon.drop_pair(sample_video, "next")
    wait_for(daemon.outputs, 40, "the next job's result")
    assert daemon.stop() == 0
    assert [p.name for p in daemon.outputs()] == ["next.mp4"]
    assert len(daemon.calls("run_sse")) == 2
