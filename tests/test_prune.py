"""`prune`: old archived originals and old failed jobs go; young ones, and anything
nemowatch did not put there, stay; 0 keeps everything."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from nemowatch.config import FolderSettings, JobSettings, Settings
from nemowatch.prune import DAY, JOB_ID, prune, schedule

NOW = time.time()


def settings_for(root: Path, originals: float = 0, failed: float = 0) -> Settings:
    folders = FolderSettings(inbox=root / "in", outbox=root / "out", failed=root / "failed")
    jobs = JobSettings(keep_originals_days=originals, keep_failed_days=failed)
    return Settings(folders=folders, jobs=jobs)


def aged(path: Path, days: float) -> Path:
    when = NOW - days * DAY
    os.utime(path, (when, when))
    return path


def archived(settings: Settings, name: str, days: float) -> Path:
    folder = settings.folders.archive_dir / name
    folder.mkdir(parents=True)
    (folder / "clip.mp4").write_bytes(b"video")
    return aged(folder, days)


def failed_job(settings: Settings, name: str, days: float, *, error: bool = True) -> Path:
    folder = settings.folders.failed / name
    folder.mkdir(parents=True)
    (folder / "clip.mp4").write_bytes(b"video")
    if error:
        (folder / "error.txt").write_text("It failed.\n")
    return aged(folder, days)


def test_old_entries_are_removed_and_young_ones_kept(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, originals=30, failed=7)
    old_original = archived(settings, "20250101-101010-holiday-3f9a0c", 31)
    young_original = archived(settings, "20250301-101010-party-0a1b2c", 29)
    old_failure = failed_job(settings, "broken", 8)
    young_failure = failed_job(settings, "broken (2)", 6.5)

    removed = prune(settings, NOW)

    assert sorted(removed) == sorted([old_original, old_failure])
    assert not old_original.exists() and not old_failure.exists()
    assert (young_original / "clip.mp4").exists() and (young_failure / "error.txt").exists()


def test_zero_keeps_everything(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    kept = [
        archived(settings, "20200101-101010-old-3f9a0c", 3000),
        failed_job(settings, "ancient", 3000),
    ]
    assert prune(settings, NOW) == []
    assert all(path.exists() for path in kept)


def test_only_what_nemowatch_put_there_is_ever_deleted(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, originals=1, failed=1)
    mine = archived(settings, "20250101-101010-holiday-3f9a0c", 10)
    readme = settings.folders.archive_dir / "readme.txt"
    readme.write_text("a file, not a job's folder")
    theirs = [
        archived(settings, "my holiday pictures", 10),  # not named like a job
        failed_job(settings, "notes", 10, error=False),  # no error.txt: not a failed job
        aged(readme, 10),
    ]
    elsewhere = tmp_path / "precious"
    elsewhere.mkdir()
    (elsewhere / "error.txt").write_text("not ours")
    link = settings.folders.failed / "link"
    link.symlink_to(elsewhere)
    os.utime(link, (NOW - 10 * DAY,) * 2, follow_symlinks=False)

    assert prune(settings, NOW) == [mine]
    assert all(path.exists() for path in theirs)
    assert link.is_symlink() and (elsewhere / "error.txt").exists()


def test_missing_folders_are_nothing_to_prune(tmp_path: Path) -> None:
    assert prune(settings_for(tmp_path, originals=1, failed=1), NOW) == []


def test_an_entry_that_cannot_be_deleted_is_left_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, failed=1)
    stuck = failed_job(settings, "stuck", 5)

    def refuse(path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr("nemowatch.prune.shutil.rmtree", refuse)
    assert prune(settings, NOW) == []
    assert stuck.exists()
    assert "could not delete" in caplog.text and "stuck" in caplog.text


def test_schedule_prunes_at_once_and_then_daily(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, failed=1)
    scheduler = BackgroundScheduler()
    schedule(scheduler, lambda: settings)
    job = scheduler.get_job(JOB_ID)
    assert job is not None
    assert job.trigger.interval.total_seconds() == DAY
    assert job.next_run_time.timestamp() <= time.time()
