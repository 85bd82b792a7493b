"""Claiming: a ready job's files are renamed into `<work>/<job-id>/files/`.

The journal is written first (stage `claimed`, with where every file came
from), then the files are renamed, so a crash between the two leaves a
journal that says how to finish or undo the claim. A file that vanished or
changed during the claim drops the claim and puts back what was moved.

The size and mtime of each media file are journaled with the claim
(`Job.media_stat`): the pipeline checks them again around the upload, and a
file that changed since is put back into the inbox (`put_back`) before
anything is paid, to wait until it has settled again.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from nemowatch.errors import FileChangedError, NemoError
from nemowatch.jobs import reuse
from nemowatch.jobs.journal import JobFolder, existing_jobs
from nemowatch.jobs.model import Failure, Job, JobStage, new_job_id
from nemowatch.jobs.results import free_name, remove_tree
from nemowatch.watch.rules import Candidate

log = logging.getLogger("nemowatch")
BUNDLE = ""  # the origins key of a bundle's folder


@dataclass(frozen=True)
class ClaimRequest:
    name: str
    kind: Literal["pair", "bundle", "refine"]
    media: tuple[Path, ...]
    instructions: Path | None
    folder: Path | None = None  # the bundle's folder
    default_instructions: bool = False
    problem: str | None = None
    #: (size, mtime_ns) of each file as it was when found settled
    expected: dict[Path, tuple[int, int]] | None = None
    #: the preset of the hot folder it came from
    preset: str | None = None


def request_for(ready: Candidate) -> ClaimRequest:
    """The claim of a job the inbox's plan found ready."""
    return ClaimRequest(
        name=ready.name,
        kind=ready.kind,
        media=ready.media,
        instructions=ready.instructions,
        folder=ready.folder,
        default_instructions=ready.use_default_instructions,
        problem=ready.problem,
        expected={path: (size, mtime_ns) for path, size, mtime_ns in ready.seen_as},
        preset=ready.preset,
    )


def resumable(
    work_dir: Path, skip: set[str], tidy: Callable[[JobFolder, Job], None] | None = None
) -> list[JobFolder]:
    """The unfinished jobs of the work folder, oldest first, except those named in `skip`.

    At start-up these are the jobs a stop or crash interrupted; later, those put
    back by `nemowatch retry`. A claim interrupted half-way is finished (or undone).
    A job that ended (done or failed) but whose folder a crash left behind is
    handed to `tidy`, which finishes putting it away; so is one whose journal is
    damaged (what it paid is unknown, so it is never resumed): it goes to the
    failed folder with the reason.
    """
    found = []
    for folder in existing_jobs(work_dir):
        if folder.path.name in skip:
            continue
        try:
            job = folder.load()
        except FileNotFoundError:
            continue  # gone since the listing
        except NemoError as exc:  # written by a newer nemowatch, which can resume it
            log.error("cannot resume %s: %s; left as it is", folder.path, exc)
            continue
        except DAMAGED as exc:
            if tidy is not None:
                tidy(folder, unreadable(folder, damage(exc)))
            continue
        if job.stage in (JobStage.DONE, JobStage.FAILED):
            if tidy is not None:
                tidy(folder, job)
            continue
        if not resume_claim(folder, job):
            continue
        log.info("%s: resuming at stage %s", job.name, job.stage.value)
        found.append(folder)
    return found


#: what reading a damaged journal raises: unreadable, not JSON, not shaped like a job
DAMAGED = (OSError, ValueError, TypeError, AttributeError)


def damage(exc: BaseException) -> str:
    """Why a journal cannot be used, in a line."""
    if isinstance(exc, ValidationError):
        fields = (f"{'.'.join(map(str, e['loc'])) or 'the top'}: {e['msg']}" for e in exc.errors())
        return "not a job's journal (" + "; ".join(list(fields)[:3]) + ")"
    if isinstance(exc, ValueError | TypeError | AttributeError):
        return f"damaged ({exc})" if str(exc) else "damaged"
    return str(exc)


def unreadable(folder: JobFolder, reason: str) -> Job:
    """A stand-in journal for a job whose own cannot be read: failed, with the reason."""
    found = re.fullmatch(r"\d{8}-\d{6}-(.+)-[0-9a-f]{6}", folder.path.name)
    name = found.group(1) if found else folder.path.name
    job = Job(id=folder.path.name, name=name, kind="pair", media=[], stage=JobStage.FAILED)
    job.failure = Failure(
        message=f"This job needs attention: its journal {folder.journal.name} cannot be read "
        f"({reason}), so nemowatch cannot tell how far it got or what it paid.",
        stage="unknown",
        advice=f"Check the files here; `nemowatch retry {name} --start-over` starts the job "
        "afresh from them (it says what that costs first).",
    )
    log.error("cannot read the journal %s (%s): to the failed folder", folder.journal, reason)
    return job


def claim(request: ClaimRequest, work_dir: Path) -> JobFolder | None:
    """Move the job's files into a new job folder; None when the claim was dropped."""
    folder = JobFolder(work_dir / new_job_id(request.name))
    files = list(request.media) + ([request.instructions] if request.instructions else [])
    origins = (
        {BUNDLE: str(request.folder)}
        if request.kind == "bundle" and request.folder
        else {p.name: str(p) for p in files}
    )
    expected = request.expected or {}
    job = Job(
        id=folder.path.name,
        name=request.name,
        kind=request.kind,
        media=[p.name for p in request.media],
        instructions_file=request.instructions.name if request.instructions else None,
        origins=origins,
        default_instructions=request.default_instructions,
        problem=request.problem,
        media_stat=_media_stat(request.media, expected),
        preset=request.preset,
    )
    try:
        reuse.make(folder, job)  # a folder put aside by an ended job, or a new one
    except OSError:
        remove_tree(folder.path)  # a full or read-only work folder: nothing was moved
        raise
    if complete(folder, job, expected):
        return folder
    return None


def _media_stat(
    media: tuple[Path, ...], expected: dict[Path, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """Each media file's (size, mtime_ns): as found settled (checked again once moved),
    or as it is now for a claim that came without them."""
    stats = {}
    for path in media:
        if path in expected:
            stats[path.name] = expected[path]
            continue
        try:
            info = os.stat(path)
        except OSError:
            continue  # vanished: the claim is dropped in a moment
        stats[path.name] = (info.st_size, info.st_mtime_ns)
    return stats


def complete(folder: JobFolder, job: Job, expected: dict[Path, tuple[int, int]]) -> bool:
    """Finish the renames of a claim (also after a crash); undo them if a file is gone."""
    try:
        if BUNDLE in job.origins:
            if not folder.files.exists():
                os.rename(job.origins[BUNDLE], folder.files)
                for path, seen in expected.items():
                    _check_unchanged(folder.files / path.name, seen)
        else:
            folder.files.mkdir(exist_ok=True)
            for name, origin in job.origins.items():
                target = folder.files / name
                if not target.exists():
                    os.rename(origin, target)
                    _check_unchanged(target, expected.get(Path(origin)))
    except (FileNotFoundError, FileChangedError) as exc:
        log.info("claim of %s dropped (%s); its files stay in the inbox", job.name, exc)
        undo(folder, job)
        return False
    except OSError:
        undo(folder, job)  # a file that cannot be moved: what was moved goes back
        raise
    log.info("%s: claimed as %s", job.name, job.id)
    return True


def _check_unchanged(path: Path, expected: tuple[int, int] | None) -> None:
    """Raise FileChangedError unless the moved file is as it was found settled.

    A link (to a file inside the inbox) is moved, not its target: not checked.
    """
    if expected is None:
        return
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    if (info.st_size, info.st_mtime_ns) != expected:
        raise FileChangedError(f"{path.name} changed while it was claimed")


def changed_since_claim(folder: JobFolder, job: Job) -> list[str]:
    """The media files whose size or mtime differ from the claim's (or that are gone).

    Links are not checked, as at the claim: the upload reads their target.
    """
    changed = []
    for name, seen in job.media_stat.items():
        try:
            info = os.lstat(folder.files / name)
        except OSError:
            changed.append(name)
            continue
        if not stat.S_ISLNK(info.st_mode) and (info.st_size, info.st_mtime_ns) != tuple(seen):
            changed.append(name)
    return changed


def put_back_if_changed(folder: JobFolder, job: Job, when: str) -> None:
    """Put the job back into the inbox if a media file changed since the claim.

    Raises:
        FileChangedError: a file changed; the job's files are back in the inbox.
    """
    changed = changed_since_claim(folder, job)
    if not changed:
        return
    message = f"{', '.join(changed)} changed {when}; waiting for it to settle again"
    folder.note(job, message)
    put_back(folder, job)
    raise FileChangedError(message)


def put_back(folder: JobFolder, job: Job) -> None:
    """Undo a claim after the fact: the job's files go back into the inbox to settle again.

    Journaled first (`put_back`), so a crash half-way is finished at the next start.
    """
    job.put_back = True
    folder.save(job)
    undo(folder, job)


def undo(folder: JobFolder, job: Job) -> None:
    """Put every moved file back where it came from and remove the job folder.

    A name taken meanwhile in the inbox is never replaced: the file goes back
    under the next free numbered name (`clip (2).mp4`) and waits there.
    """
    if BUNDLE in job.origins:
        moves = [(folder.files, Path(job.origins[BUNDLE]))]
    else:
        moves = [(folder.files / name, Path(origin)) for name, origin in job.origins.items()]
    for moved, origin in moves:
        if moved.exists() or moved.is_symlink():
            _move_back(moved, origin)
    remove_tree(folder.path)


def _move_back(moved: Path, origin: Path) -> None:
    target = origin
    if origin.exists() or origin.is_symlink():
        target = free_name(origin.parent, origin.name)
        log.warning("%s was taken meanwhile: put back as %s instead", origin, target.name)
    os.rename(moved, target)


def resume_claim(folder: JobFolder, job: Job) -> bool:
    """At startup: a job journaled as claimed finishes its claim (or gives it up);
    one that was being put back into the inbox is put back."""
    if job.put_back:
        try:
            undo(folder, job)
        except OSError as exc:
            log.error("%s: could not put its files back into the inbox: %s", job.name, exc)
        else:
            log.info("%s: its files were put back into the inbox to settle again", job.name)
        return False
    if job.stage is not JobStage.CLAIMED:
        return True
    return complete(folder, job, {})
