"""Killed at every step that writes the journal, and restarted: paid once, delivered once, tidy.

The daemon runs as `python -m devkit.crash N`: unchanged until right after its
Nth journal write, then SIGKILL. A fresh daemon then takes over the same
folders. Whatever N, the job's one turn is sent once, its render submitted
once, one result is delivered under its own name, and nothing is left behind
(no hidden temporary file in the outbox, no job in the work folder).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.daemon import Daemon
from devkit.waits import wait_for
from nemowatch.jobs import reuse

#: more journal writes than one plain job makes (the extra ones skip)
WRITES = range(1, 12)


def finished(daemon: Daemon) -> bool:
    return bool(daemon.outputs() or daemon.failures()) and not daemon.work_jobs()


def crash_run(daemon: Daemon, point: str, drop: Callable[[], object], timeout: float = 40) -> bool:
    """Run the crashing daemon until it dies; False if it finished the job instead."""
    daemon.start(crash=point)
    drop()
    proc = daemon.proc
    assert proc is not None
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not finished(daemon):
        assert time.monotonic() < deadline, f"neither crashed nor finished: {daemon.describe()}"
        time.sleep(0.05)
    died = proc.poll() is not None
    daemon.kill()  # stops it if it finished instead; forgets the dead one
    return died


def assert_paid_once_delivered_once(daemon: Daemon) -> None:
    daemon.start()
    wait_for(lambda: finished(daemon), 40, "the job to finish after the restart")
    assert daemon.stop() == 0
    hidden = [p.name for p in daemon.outbox.iterdir() if p.name.startswith(".")]
    assert hidden == [], f"left in the outbox: {hidden}"
    jobs = [p.name for p in daemon.work.iterdir() if p.is_dir() and p.name != reuse.REUSE]
    assert jobs == [], f"left in the work folder: {jobs}"
    for aside in (daemon.work / reuse.REUSE).glob("*"):  # ended jobs' folders, to be used again
        assert not aside.name.endswith(reuse.TAKEN), aside
        assert {p.name for p in aside.iterdir()} <= reuse.REUSABLE, aside
    sent = len(daemon.calls("run_sse"))
    assert sent <= 1, "the turn was sent again"
    if sent == 0:
        # killed after the turn was journaled as sent, before it left: it is never
        # sent again by itself; the job fails, saying how to pay for it on request
        (failed,) = daemon.failures()
        assert "--resend" in (failed / "error.txt").read_text()
        assert daemon.outputs() == []
        return
    assert daemon.failures() == [], daemon.log_tail()
    assert [p.name for p in daemon.outputs()] == ["clip.mp4"]
    assert len(daemon.calls("render_submit")) == 1, "the render was submitted again"


@pytest.mark.parametrize("writes", WRITES)
def test_a_kill_after_any_journal_write_pays_once_and_delivers_once(
    daemon: Daemon, sample_video: Path, writes: int
) -> None:
    if not crash_run(daemon, str(writes), lambda: daemon.drop_pair(sample_video, "clip")):
        pytest.skip(f"one job writes its journal fewer than {writes} times")
    assert_paid_once_delivered_once(daemon)


def test_a_kill_between_the_result_link_and_its_journal_write_delivers_once(
    daemon: Daemon, sample_video: Path
) -> None:
    assert crash_run(daemon, "link", lambda: daemon.drop_pair(sample_video, "clip"))
    assert (daemon.outbox / "clip.mp4").exists(), "killed right after the link"
    assert_paid_once_delivered_once(daemon)
    assert "found its result clip.mp4 from before the restart" in daemon.log_text()


def test_a_kill_after_a_claim_wrote_into_a_folder_put_aside_claims_again_and_pays_once(
    daemon: Daemon, sample_video: Path
) -> None:
    """The second job takes the first one's folder: killed once its journal is written
    there, before the folder got the job's name. Its files were never moved: the next
    daemon claims them anew, and nothing ever resumes the half-taken folder."""
    daemon.start(crash="taken")
    daemon.drop_pair(sample_video, "first")
    wait_for(lambda: finished(daemon), 40, "the first job")
    assert [p.name for p in (daemon.work / reuse.REUSE).iterdir()] != [], "put aside"
    daemon.drop_pair(sample_video, "second")
    proc = daemon.proc
    assert proc is not None
    wait_for(lambda: proc.poll() is not None, 40, "the kill in the taken folder")
    daemon.kill()
    (taken,) = (daemon.work / reuse.REUSE).glob(f"*{reuse.TAKEN}")
    assert "second" in (taken / "job.json").read_text(), "killed after that write"
    assert (daemon.inbox / "second.mp4").exists(), "the files were not moved yet"
    assert daemon.work_jobs() == []
    daemon.start()
    wait_for(lambda: len(daemon.outputs()) == 2, 40, "the second job")
    wait_for(lambda: not daemon.work_jobs(), 10, "the work folder to empty")
    assert daemon.stop() == 0
    assert [p.name for p in daemon.outputs()] == ["first.mp4", "second.mp4"]
    assert daemon.failures() == []
    assert len(daemon.calls("run_sse")) == 2 and len(daemon.calls("render_submit")) == 2
    assert list((daemon.work / reuse.REUSE).glob(f"*{reuse.TAKEN}")) == [], "cleared"
