"""What could fail only after paying is checked before; what fails after delivery is no failure."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.daemon import Daemon
from devkit.waits import wait_for


@pytest.mark.parametrize("length", [238, 250])
def test_a_name_too_long_for_the_results_is_shortened_before_paying(
    daemon: Daemon, sample_video: Path, length: int
) -> None:
    stem = "é" * 10 + "n" * (length - len(".mp4") - 20)  # two-byte characters count twice
    assert len(f"{stem}.mp4".encode()) == length
    daemon.start()
    daemon.drop_pair(sample_video, stem)
    (result,) = wait_for(daemon.outputs, 40, "the result")
    wait_for(lambda: not daemon.work_jobs(), 20, "the job to end")
    assert daemon.stop() == 0
    assert daemon.failures() == []
    assert len(daemon.calls("run_sse")) == 1
    assert stem.startswith(result.stem) and len(result.name.encode()) <= 255
    (report,) = daemon.outbox.glob("*.report.txt")
    assert report.name == f"{result.stem}.report.txt"
    # a second result of that name still fits (numbered), and nothing hidden is left
    assert not [p for p in daemon.outbox.iterdir() if p.name.startswith(".")]


def test_an_archive_that_fails_after_delivery_leaves_the_job_delivered_and_is_tried_again(
    make_daemon: Callable[..., Daemon], sample_video: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    archive.write_text("a file where the archive folder should be")
    daemon = make_daemon(folders={"archive": str(archive)})
    daemon.start()
    daemon.drop_pair(sample_video, "clip")
    (result,) = wait_for(daemon.outputs, 40, "the result")
    wait_for(lambda: "tried again later" in daemon.log_text(), 20, "the archive to fail")
    assert daemon.failures() == [], "a failure after delivery never makes the job a failure"
    (job,) = daemon.work_jobs()
    assert job["stage"] == "delivered"
    # the cause goes away; the next rescan finishes the job without paying again
    archive.unlink()
    wait_for(lambda: not daemon.work_jobs(), 20, "the originals to be archived")
    assert daemon.stop() == 0
    assert daemon.failures() == [] and daemon.outputs() == [result]
    assert len(daemon.calls("run_sse")) == 1 and len(daemon.calls("render_submit")) == 1
    assert sorted(p.name for p in archive.glob("*/*")) == ["clip.mp4", "clip.txt"]
    shutil.rmtree(archive)
