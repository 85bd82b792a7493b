"""Months of running: old archived originals and old failed jobs are deleted.

`jobs.keep_originals_days` prunes the archive folder, `jobs.keep_failed_days`
the failed folder (0, the default, keeps everything). An entry goes once its
modification time is that many days old. Only what nemowatch put there is
ever deleted, whatever the configuration names as those folders: in the
archive, folders named like a job id (`20261122-011300-NAME-3f9a`); in the
failed folder, folders holding an `error.txt`. Links are never followed.

`prune(settings, now)` runs at start-up and then daily (`schedule`); a
folder that cannot be read or an entry that cannot be deleted is logged and
left for the next run, never raised.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.base import BaseScheduler

from nemowatch.config import Settings

log = logging.getLogger("nemowatch")

DAY = 24 * 3600
JOB_ID = "prune"
#: the name `jobs.model.new_job_id` gives a job: the archive's folders are named so
JOB_FOLDER = re.compile(r"\d{8}-\d{6}-.+-[0-9a-f]{6}")


def _mtime(entry: os.DirEntry[str]) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return float("inf")  # gone meanwhile: nothing to delete


def archived(entry: os.DirEntry[str]) -> bool:
    """A job's originals in the archive: a real folder named like a job id."""
    return entry.is_dir(follow_symlinks=False) and JOB_FOLDER.fullmatch(entry.name) is not None


def failed(entry: os.DirEntry[str]) -> bool:
    """A failed job's folder: a real folder holding an `error.txt` (not one being filled)."""
    if entry.name.startswith("."):
        return False
    return entry.is_dir(follow_symlinks=False) and os.path.isfile(
        os.path.join(entry.path, "error.txt")
    )


def prune(settings: Settings, now: float) -> list[Path]:
    """Delete the archive's and the failed folder's entries older than configured.

    Args:
        settings: `jobs.keep_originals_days`, `jobs.keep_failed_days` and the folders.
        now: the wall clock (`time.time()`), which mtimes are compared with.

    Returns:
        The entries deleted.
    """
    jobs, folders = settings.jobs, settings.folders
    return prune_folder(
        folders.archive_dir, jobs.keep_originals_days, now, archived
    ) + prune_folder(folders.failed, jobs.keep_failed_days, now, failed)


def prune_folder(
    folder: Path, keep_days: float, now: float, ours: Callable[[os.DirEntry[str]], bool]
) -> list[Path]:
    """Delete the entries of `folder` that `ours` accepts and that are over `keep_days` old."""
    if keep_days <= 0:
        return []
    cutoff = now - keep_days * DAY
    removed = []
    try:
        with os.scandir(folder) as listing:
            old = [entry for entry in listing if ours(entry) and _mtime(entry) < cutoff]
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("could not look for old entries in %s: %s; tried again tomorrow", folder, exc)
        return []
    for entry in old:
        try:
            shutil.rmtree(entry.path)
        except OSError as exc:
            log.warning("could not delete %s: %s; tried again tomorrow", entry.path, exc)
            continue
        removed.append(Path(entry.path))
    if removed:
        log.info(
            "deleted %d old job folder(s) from %s (over %g days)", len(removed), folder, keep_days
        )
    return removed


def schedule(scheduler: BaseScheduler, settings: Callable[[], Settings]) -> None:
    """Prune now (once the scheduler runs) and then every day, with the settings in force.

    A function job of an `AsyncIOScheduler` runs in the loop's thread pool, so
    deleting a large archive never holds up the event loop.
    """
    scheduler.add_job(
        lambda: prune(settings(), time.time()),
        "interval",
        days=1,
        next_run_time=datetime.now(UTC),
        id=JOB_ID,
    )
