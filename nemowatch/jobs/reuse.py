"""Job folders used again: the folder of a job that ended becomes a next claim's.

A job folder holds the journal, the journal's spare and `job.log`. Removing
them when a job ends and making them anew at the next claim costs little on
most filesystems. On ext4 without a journal, though, every new file makes the
kernel step over each one deleted in the last minute (six while not yet written
back), so at a thousand jobs in a row the removals of one job slowed the claims
of the next ones. So an ended job's folder is put aside in `<work>/.reuse/`, and
a claim takes one (those beyond `KEEP` are removed once no job runs, see `trim`):

1. renamed to a name of the claim's own inside `.reuse` (were two claims to take
   one folder, the second one's rename would fail and it would make a new one);
2. its log emptied, its journal rewritten with the new job (in place);
3. renamed to the job's folder name.

Nothing outside `.reuse` ever holds another job's journal or log: a scan of the
work folder (which looks only at folders with a journal directly inside) and a
restart after a crash at any step see the new job whole or not at all. What a
crash leaves half-taken in `.reuse` is removed when the daemon starts (`clear`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from nemowatch.errors import JobRemovedError
from nemowatch.fsutil import spare_name
from nemowatch.jobs.journal import JOURNAL, LOG, JobFolder
from nemowatch.jobs.model import Job

REUSE = ".reuse"
#: ended job folders kept while no job runs, for the next claims
KEEP = 16
#: what an ended job's folder may hold to be used again
REUSABLE = frozenset({JOURNAL, spare_name(JOURNAL), LOG})
#: a folder taken by a claim, not yet renamed to its job's name
TAKEN = ".taken"


def put_aside(folder: JobFolder) -> None:
    """Keep an ended job's folder for a next claim; removed instead when it holds anything
    else (an empty `files` folder is removed first). As many are kept as end: a burst of
    jobs claimed at once ends before any next claim, and its folders wait for `trim`."""
    folder.close_log()  # a line noted after this goes to the daemon's log only
    keep = folder.path.parent / REUSE
    with contextlib.suppress(OSError):
        if folder.files.is_dir():
            folder.files.rmdir()  # left empty by the archive or the failed folder's moves
        if set(os.listdir(folder.path)) <= REUSABLE:
            keep.mkdir(exist_ok=True)
            os.rename(folder.path, keep / folder.path.name)
            return
    shutil.rmtree(folder.path, ignore_errors=True)


def make(folder: JobFolder, job: Job) -> None:
    """Make the job's folder with its journal: a folder put aside, or a new one."""
    if not _reused(folder, job):
        folder.path.mkdir(parents=True)
        folder.save(job)


def _reused(folder: JobFolder, job: Job) -> bool:
    keep = folder.path.parent / REUSE
    taken = keep / f"{folder.path.name}{TAKEN}"
    try:
        with os.scandir(keep) as entries:  # the first one that can be taken, no listing
            if not any(_took(entry, taken) for entry in entries):
                return False
    except OSError:
        return False  # none put aside yet
    try:
        with contextlib.suppress(FileNotFoundError):
            os.truncate(taken / LOG, 0)
        JobFolder(taken).save(job)
        os.rename(taken, folder.path)
    except (OSError, JobRemovedError):
        shutil.rmtree(taken, ignore_errors=True)
        return False
    return True


def trim(work_dir: Path) -> int:
    """Remove the folders put aside but `KEEP`: when no job runs (a removal makes the next
    new files slower on that filesystem, so not while jobs make theirs); how many went."""
    try:
        with os.scandir(work_dir / REUSE) as entries:
            names = sorted(e.name for e in entries if not e.name.endswith(TAKEN))
    except OSError:
        return 0
    extra = names[: max(0, len(names) - KEEP)]
    for name in extra:
        shutil.rmtree(work_dir / REUSE / name, ignore_errors=True)
    return len(extra)


def _took(entry: os.DirEntry[str], taken: Path) -> bool:
    if entry.name.endswith(TAKEN):
        return False
    try:
        os.rename(entry.path, taken)
    except OSError:
        return False  # taken by another claim meanwhile
    return True


def clear(work_dir: Path) -> None:
    """At start-up: remove what a crash left half-taken (the daemon holds the work
    folder's lock: no other process claims into it), and `trim`."""
    keep = work_dir / REUSE
    with contextlib.suppress(OSError), os.scandir(keep) as entries:
        for entry in entries:
            if entry.name.endswith(TAKEN):
                shutil.rmtree(entry.path, ignore_errors=True)
    trim(work_dir)
