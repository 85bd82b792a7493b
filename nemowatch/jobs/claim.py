"""Claiming: a ready job's files are renamed into `<work>/<job-id>/files/`.

The journal is written first (stage `claimed`, with where every file came
from), then the files are renamed, so a crash between the two leaves a
journal that says how to finish or undo the claim. A file that vanished or
changed during the claim drops the claim and puts back what was moved.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from nemowatch.errors import FileChangedError, NemoError
from nemowatch.jobs.journal import JobFolder, existing_jobs
from nemowatch.jobs.model import Job, JobStage, new_job_id
from nemowatch.jobs.results import remove_tree
from nemowatch.watch.rules import Candidate

log = logging.getLogger("nemowatch")
BUNDLE = ""  # the origins key of a bundle's folder


@dataclass(frozen=True)
class ClaimRequest:
    name: str
    kind: str  # "pair" or "bundle"
    media: tuple[Path, ...]
    instructions: Path | None
    folder: Path | None = None  # the bundle's folder
    default_instructions: bool = False
    problem: str | None = None
    #: (size, mtime_ns) of each file as it was when found settled
    expected: dict[Path, tuple[int, int]] | None = None


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
    )


def resumable(work_dir: Path, skip: set[str]) -> list[JobFolder]:
    """The unfinished jobs of the work folder, oldest first, except those named in `skip`.

    At start-up these are the jobs a stop or crash interrupted; later, those put
    back by `nemowatch retry`. A claim interrupted half-way is finished (or undone).
    """
    found = []
    for folder in existing_jobs(work_dir):
        if folder.path.name in skip:
            continue
        try:
            job = folder.load()
        except (OSError, ValueError, NemoError) as exc:
            log.error("cannot read the journal of %s (%s); left as it is", folder.path, exc)
            continue
        if job.stage in (JobStage.DONE, JobStage.FAILED) or not resume_claim(folder, job):
            continue
        log.info("%s: resuming at stage %s", job.name, job.stage.value)
        found.append(folder)
    return found


def claim(request: ClaimRequest, work_dir: Path) -> JobFolder | None:
    """Move the job's files into a new job folder; None when the claim was dropped."""
    folder = JobFolder(work_dir / new_job_id(request.name))
    files = list(request.media) + ([request.instructions] if request.instructions else [])
    origins = (
        {BUNDLE: str(request.folder)}
        if request.kind == "bundle" and request.folder
        else {p.name: str(p) for p in files}
    )
    job = Job(
        id=folder.path.name,
        name=request.name,
        kind="bundle" if request.kind == "bundle" else "pair",
        media=[p.name for p in request.media],
        instructions_file=request.instructions.name if request.instructions else None,
        origins=origins,
        default_instructions=request.default_instructions,
        problem=request.problem,
    )
    folder.path.mkdir(parents=True)
    folder.save(job)
    if complete(folder, job, request.expected or {}):
        return folder
    return None


def complete(folder: JobFolder, job: Job, expected: dict[Path, tuple[int, int]]) -> bool:
    """Finish the renames of a claim (also after a crash); undo them if a file is gone."""
    try:
        if BUNDLE in job.origins:
            if not folder.files.exists():
                os.rename(job.origins[BUNDLE], folder.files)
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
    log.info("%s: claimed as %s", job.name, job.id)
    return True


def _check_unchanged(path: Path, expected: tuple[int, int] | None) -> None:
    if expected is None:
        return
    info = path.stat()
    if (info.st_size, info.st_mtime_ns) != expected:
        raise FileChangedError(f"{path.name} changed while it was claimed")


def undo(folder: JobFolder, job: Job) -> None:
    """Put every moved file back where it came from and remove the job folder."""
    if BUNDLE in job.origins:
        if folder.files.exists() and not Path(job.origins[BUNDLE]).exists():
            os.rename(folder.files, job.origins[BUNDLE])
    else:
        for name, origin in job.origins.items():
            moved = folder.files / name
            if moved.exists() and not Path(origin).exists():
                os.rename(moved, origin)
    remove_tree(folder.path)


def resume_claim(folder: JobFolder, job: Job) -> bool:
    """At startup: a job journaled as claimed finishes its claim (or gives it up)."""
    if job.stage is not JobStage.CLAIMED:
        return True
    return complete(folder, job, {})
