"""`nemowatch retry NAME`: a failed job goes back in line.

A job that failed after its paid edits (at export, render or download) keeps
its session and resumes at export, so the edit is not paid again. Any other
job starts over from what is in its failed folder now (fix the files there
first), with its instructions read afresh.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nemowatch.config import Settings
from nemowatch.errors import InputError
from nemowatch.jobs.journal import FILES, JOURNAL, LOG, JobFolder
from nemowatch.jobs.model import Job, JobStage, new_job_id
from nemowatch.watch.files import FileKind, classify

PAID_STAGES = {JobStage.EDITED.value, JobStage.RENDERING.value, JobStage.DOWNLOADING.value}
NOT_ORIGINALS = {"error.txt", LOG, JOURNAL}


def retry(settings: Settings, name: str) -> str:
    """Move `<failed>/NAME` back into the work folder; returns what was done."""
    source = settings.folders.failed / name
    if not source.is_dir():
        raise InputError(f"there is no failed job {name!r} in {settings.folders.failed}")
    old = _old_journal(source)
    originals = sorted(p for p in source.iterdir() if p.name not in NOT_ORIGINALS)
    folder = JobFolder(settings.folders.work_dir / new_job_id(old.name if old else name))
    if old and old.failure and old.failure.stage in PAID_STAGES and old.session_id:
        job = old.model_copy(update={"id": folder.path.name, "failure": None, "held": None})
        job.stage, job.render_id, job.render_attempts = JobStage.EDITED, None, 0
        job.render_submitted = False
        how = "resumes at export in its session (the edit is not paid again)"
    else:
        job = _fresh(folder.path.name, old.name if old else name, originals)
        how = "starts over"
    folder.path.mkdir(parents=True)
    for path in originals:
        (folder.path / FILES).mkdir(exist_ok=True)
        shutil.move(str(path), str(folder.path / FILES / path.name))
    if (source / LOG).exists():
        shutil.copyfile(source / LOG, folder.log_file)
    folder.save(job)  # the journal last: a job folder with a journal is complete
    shutil.rmtree(source)
    folder.note(job, f"put back in line by `nemowatch retry`; it {how}")
    return f"{job.name} {how}; the daemon picks it up within watch.rescan_seconds"


def _old_journal(source: Path) -> Job | None:
    try:
        return Job.model_validate_json((source / JOURNAL).read_bytes())
    except (OSError, ValueError):
        return None


def _fresh(job_id: str, name: str, originals: list[Path]) -> Job:
    texts = [p.name for p in originals if classify(p.name) is FileKind.INSTRUCTIONS]
    media = [p.name for p in originals if classify(p.name) not in (FileKind.INSTRUCTIONS,)]
    return Job(
        id=job_id,
        name=name,
        kind="pair",
        media=media,
        instructions_file=texts[0] if texts else None,
        problem=None if len(texts) == 1 else "the job folder needs exactly one .txt file",
    )
