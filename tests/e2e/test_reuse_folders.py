"""Ended jobs' folders wait to be used again: trimmed at start-up and once none runs."""

from __future__ import annotations

from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for
from nemowatch.jobs import reuse


def put_aside(daemon: Daemon) -> list[str]:
    folder = daemon.work / reuse.REUSE
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def ended_folders(daemon: Daemon, count: int, start: int = 0) -> None:
    """As a burst of `count` jobs leaves them (journal, spare, log)."""
    for i in range(start, start + count):
        folder = daemon.work / reuse.REUSE / f"20270101-0000{i:02d}-clip{i}-abcdef"
        folder.mkdir(parents=True)
        (folder / "job.json").write_text('{"version": 1, "stage": "done"}')
        (folder / ".job.json.spare").write_text("{}")
        (folder / "job.log").write_text(f"clip{i}: delivered\n")


def test_folders_put_aside_are_trimmed_at_start_and_when_no_job_runs_and_used_again(
    daemon: Daemon, sample_video: Path
) -> None:
    ended_folders(daemon, reuse.KEEP + 3)
    (daemon.work / reuse.REUSE / f"20270101-000100-half{reuse.TAKEN}").mkdir()
    daemon.start()
    assert len(put_aside(daemon)) == reuse.KEEP, "a crash's half-taken one and 3 more went"
    ended_folders(daemon, 4, start=50)  # a burst ended meanwhile
    # nothing runs: the next rescan (every second here) trims them
    wait_for(lambda: len(put_aside(daemon)) == reuse.KEEP, 20, "the trim")
    kept = put_aside(daemon)
    daemon.drop_pair(sample_video, "clip")
    wait_for(lambda: len(daemon.outputs()) == 1, 30, "the job")
    wait_for(lambda: not daemon.work_jobs(), 10, "the job folder put away")
    now = put_aside(daemon)
    assert len(now) == reuse.KEEP, "one taken, one put aside"
    assert len(set(kept) - set(now)) == 1, "the job took one of them"
    (ended,) = set(now) - set(kept)
    assert "-clip-" in ended, "and its own folder was put aside when it ended"
    assert daemon.stop() == 0
    assert daemon.failures() == []
