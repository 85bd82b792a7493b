"""How a job ends: the report and the originals after success; the failed folder.

Both are idempotent: a restart in the middle of either simply finishes it.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nemowatch.api import Session
from nemowatch.config import Settings
from nemowatch.errors import ApiError
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Failure, Job, JobStage
from nemowatch.jobs.policy import api_code, explain
from nemowatch.jobs.results import free_name, move_all, remove_tree, write_new

if TYPE_CHECKING:
    from nemowatch.jobs.pipeline import Pipeline

ERROR_FILE = "error.txt"


async def deliver(pipeline: Pipeline, *, submit: bool) -> None:
    """Write the report, then archive, keep or delete the originals; the job is done."""
    job, folder, settings = pipeline.job, pipeline.folder, pipeline.ctx.settings
    if settings.jobs.write_report and not job.report and job.result:
        link = await _web_link(pipeline)
        result = Path(job.result)
        report = write_new(result.with_name(result.stem + ".report.txt"), render_report(job, link))
        job.report = str(report)
        pipeline.save()
    if not submit:
        _put_away_originals(folder, job, settings)
    job.move_to(JobStage.DONE)
    pipeline.save()
    pipeline.note("done")
    if not submit and settings.jobs.after_success != "keep":
        remove_tree(folder.path)


async def _web_link(pipeline: Pipeline) -> str:
    job = pipeline.job
    if not job.session_id:
        return "(no session)"
    try:
        claim = await pipeline.client.claim_token(Session(job.task_id or "", job.session_id))
    except ApiError as exc:
        return f"(not available: {exc})"
    return pipeline.client.web_link(claim)


def _put_away_originals(folder: JobFolder, job: Job, settings: Settings) -> None:
    originals = sorted(folder.files.iterdir()) if folder.files.is_dir() else []
    mode = settings.jobs.after_success
    if mode == "archive" and originals:
        target = settings.folders.archive_dir / job.id
        move_all(originals, target)
        folder.note(job, f"originals archived in {target}")
    elif mode == "delete":
        for path in originals:
            path.unlink(missing_ok=True)


def render_report(job: Job, link: str) -> str:
    lines = [f"nemowatch report: {job.name}", "", f"Result: {job.result}", ""]
    lines.append("Instructions:")
    for i, turn in enumerate(job.turns, 1):
        lines += [f"  Turn {i}:"] + [f"    {line}" for line in turn.text.splitlines()]
    lines += ["", "What the editor answered:"]
    for i, turn in enumerate(job.turns, 1):
        answer = turn.answer or "(no text; the change was verified in the project)"
        lines += [f"  Turn {i}:"] + [f"    {line}" for line in answer.splitlines()]
    lines += ["", job.summary or "Timeline: (not read)", "", f"Open in the web editor: {link}"]
    lines += ["", "Timings:"] + _timings(job)
    return "\n".join(lines) + "\n"


def _timings(job: Job) -> list[str]:
    marks = [("claimed", job.created_at)] + [
        (stage, job.reached[stage])
        for stage in ("session", "uploaded", "edited", "rendering", "downloading", "delivered")
        if stage in job.reached
    ]
    out = [f"  claimed at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(job.created_at))}"]
    for (name, start), (nxt, end) in zip(marks, marks[1:], strict=False):
        out.append(f"  {name} -> {nxt}: {end - start:.1f} s")
    if len(marks) > 1:
        out.append(f"  total: {marks[-1][1] - marks[0][1]:.1f} s")
    return out


def fail(
    folder: JobFolder, job: Job, exc: BaseException, settings: Settings, *, submit: bool
) -> None:
    """Record the failure; outside `submit`, move the originals to `<failed>/NAME/`."""
    sentence, advice = explain(exc)
    job.failure = Failure(
        message=sentence,
        stage=job.stage.value,
        code=api_code(exc),
        advice=advice.replace("NAME", job.name),
    )
    folder.note(job, f"failed at {job.stage.value}: {exc}", level=logging.ERROR)
    job.move_to(JobStage.FAILED)
    folder.save(job)
    if submit:
        return
    target = free_name(settings.folders.failed, job.name)
    originals = sorted(folder.files.iterdir()) if folder.files.is_dir() else []
    move_all(originals, target)
    (target / ERROR_FILE).write_text(error_text(job), encoding="utf-8")
    for extra in (folder.log_file, folder.journal):
        if extra.exists():
            shutil.copyfile(extra, target / extra.name)
    remove_tree(folder.path)


def error_text(job: Job) -> str:
    failure = job.failure
    assert failure is not None
    lines = [
        failure.message,
        "",
        f"Stage: {failure.stage}",
        f"API code: {failure.code if failure.code is not None else 'none'}",
        f"What to do: {failure.advice}",
        f"Job: {job.id}",
    ]
    return "\n".join(lines) + "\n"
