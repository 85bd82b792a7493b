"""Stopping: SIGTERM reaches a checkpoint within the grace time; a second signal forces."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for


def test_sigterm_during_a_long_render_exits_0_within_the_bound_and_resumes(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(jobs={"stop_grace_seconds": 1})
    daemon.emulator.control.set(render_seconds=6)
    daemon.start()
    daemon.note("long.txt", "Add a title")
    daemon.drop(sample_video, "long.mp4")
    wait_for(lambda: daemon.calls("render_poll"), 30, "render polling")
    asked = time.monotonic()
    assert daemon.stop(timeout=10) == 0
    assert time.monotonic() - asked < 5, "the grace time bounds the stop"
    daemon.start()
    wait_for(daemon.outputs, 30, "the result after the restart")
    assert daemon.stop() == 0
    assert len({c["body"]["id"] for c in daemon.calls("render_submit")}) == 1
    assert len(daemon.calls("run_sse")) == 1


def test_a_second_signal_forces_the_exit(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(jobs={"stop_grace_seconds": 60})
    daemon.emulator.control.set(render_seconds=30)
    daemon.start()
    daemon.note("stuck.txt", "Add a title")
    daemon.drop(sample_video, "stuck.mp4")
    wait_for(lambda: daemon.calls("render_poll"), 30, "render polling")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "stopping" in daemon.log_text(), 10, "the first signal to be seen")
    asked = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=10) == 0
    assert time.monotonic() - asked < 5
    daemon.proc = None


def test_sigterm_during_a_large_upload_exits_in_time_and_the_job_completes_later(
    make_daemon: Callable[..., Daemon], sample_video: Path, tmp_path: Path
) -> None:
    daemon = make_daemon(jobs={"stop_grace_seconds": 1})
    # the answer to the upload comes late: the request is still under way at SIGTERM
    daemon.emulator.control.add_faults([{"endpoint": "upload", "delay_seconds": 8}])
    big = tmp_path / "big.mp4"
    with big.open("wb") as f:
        f.write(sample_video.read_bytes())
        f.write(b"\0" * 60 * 1024 * 1024)
    daemon.start()
    daemon.note("big.txt", "Add a title")
    big.rename(daemon.inbox / "big.mp4")
    wait_for(lambda: daemon.calls("upload"), 20, "the upload to start")
    asked = time.monotonic()
    assert daemon.stop(timeout=10) == 0
    assert time.monotonic() - asked < 5
    (journal,) = daemon.work.glob("*/job.json")
    assert '"stage": "session"' in journal.read_text(), "not marked uploaded: it will be redone"
    daemon.start()
    wait_for(daemon.outputs, 40, "the result after the restart")
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
