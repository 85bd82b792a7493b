"""How a job ends: the report and the originals after success; the failed folder.

Both are idempotent: a restart in the middle of either simply finishes it.
Where the files go is a results strategy: `InboxResults` for jobs claimed from
the inbox (originals archived, kept or deleted; failures moved to the failed
folder), `SubmitResults` for `nemowatch submit` (the user's files stay put).
This module takes what it needs as arguments and knows nothing of the API.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from nemowatch.config import Settings
from nemowatch.jobs import refine, reuse
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Failure, Job, JobStage
from nemowatch.jobs.policy import api_code, explain
from nemowatch.jobs.results import (
    STAGING,
    failed_folder_of,
    fitting_stem,
    move_all,
    move_folder,
    publish_folder,
    write_new,
)
from nemowatch.redact import redact
from nemowatch.sharing import result_mode, share_tree

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"


class Results(Protocol):
    """Where a job's files go when it ends."""

    def delivered(self, folder: JobFolder, job: Job, settings: Settings) -> None:
        """After success: put the originals away (the result is already in the outbox)."""

    def failed(self, folder: JobFolder, job: Job, settings: Settings) -> None:
        """After failure (recorded in the journal): make it visible to the user."""

    def done(self, folder: JobFolder, settings: Settings) -> None:
        """After the journal says done: tidy the job's folder."""

    def keeps(self, settings: Settings) -> bool:
        """Whether the job's folder (and journal) stays after `done`."""


class InboxResults:
    """Jobs claimed from the inbox: their folder under work is theirs to move."""

    def delivered(self, folder: JobFolder, job: Job, settings: Settings) -> None:
        originals = sorted(folder.files.iterdir()) if folder.files.is_dir() else []
        mode = settings.jobs.after_success
        if mode == "archive" and originals:
            target = settings.folders.archive_dir / job.id
            if not move_folder(folder.files, target):
                move_all(originals, target)
            share_tree(target, settings.folders.group_writable)
            folder.note(job, f"originals archived in {target}")
        elif mode == "delete":
            for path in originals:
                path.unlink(missing_ok=True)

    def failed(self, folder: JobFolder, job: Job, settings: Settings) -> None:
        """Fill `<failed>/.nw-failing-<id>` (originals, error.txt, log, journal), then
        rename it into place whole: nobody sees a failed job without its reason."""
        failed = settings.folders.failed
        stem = fitting_stem(failed, job.name)
        staging = failed / f"{STAGING}{job.id}"
        originals = sorted(folder.files.iterdir()) if folder.files.is_dir() else []
        if not originals and not staging.exists() and failed_folder_of(failed, job.name, job.id):
            reuse.put_aside(folder)  # renamed into place just before a crash
            return
        move_all(originals, staging)
        for extra in (folder.log_file, folder.journal):
            if extra.exists():
                shutil.copyfile(extra, staging / extra.name)
        advice = job.failure.advice if job.failure is not None else ""

        def naming(target: Path) -> None:
            if job.failure is not None:  # the advice names the folder `retry` takes, quoted
                job.failure.advice = advice.replace(
                    f"retry {job.name}", f"retry {shlex.quote(target.name)}"
                )
            (staging / ERROR_FILE).write_text(redact(error_text(job)), encoding="utf-8")

        publish_folder(staging, stem, naming)
        reuse.put_aside(folder)

    def done(self, folder: JobFolder, settings: Settings) -> None:
        if not self.keeps(settings):
            reuse.put_aside(folder)

    def keeps(self, settings: Settings) -> bool:
        return settings.jobs.after_success == "keep"


class SubmitResults:
    """`nemowatch submit`: the user's files stay where they are; the journal stays too."""

    def delivered(self, folder: JobFolder, job: Job, settings: Settings) -> None:
        pass

    def failed(self, folder: JobFolder, job: Job, settings: Settings) -> None:
        pass

    def done(self, folder: JobFolder, settings: Settings) -> None:
        pass

    def keeps(self, settings: Settings) -> bool:
        return True


def deliver(
    folder: JobFolder,
    job: Job,
    settings: Settings,
    results: Results,
    *,
    link: str,
    save: Callable[[], None],
    tell: Callable[[], None],
) -> None:
    """Write the report, then put the originals away; the job is done.

    Where the job's folder goes once it is done, these steps are not journaled: a
    crash before it went does them again (the report written before is recognised,
    the moves are idempotent), and two journal writes per job are saved.

    Args:
        link: the web editor's address for the report (fetched by the caller).
        save: journals the job (and tells whoever listens).
        tell: only tells whoever listens.
    """
    keeps = results.keeps(settings)
    if job.result and not job.report:
        result = Path(job.result)
        mode = result_mode(result, settings.folders.group_writable)  # the report's too
        if settings.jobs.write_report:
            job.report = str(_report(job, result, link, mode))
            if keeps:
                save()
    results.delivered(folder, job, settings)
    job.move_to(JobStage.DONE)
    if keeps:
        save()
    else:
        tell()
    folder.note(job, "done")
    results.done(folder, settings)


def _report(job: Job, result: Path, link: str, mode: int) -> Path:
    """The report beside `result`: the one written for it before a crash, or a new one."""
    path = result.with_name(result.stem + ".report.txt")
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = [f.readline() for _ in range(3)]
    except OSError:
        head = []
    if head == [f"nemowatch report: {job.name}\n", "\n", f"Result: {job.result}\n"]:
        return path
    return write_new(path, render_report(job, link), mode)


def tidy(folder: JobFolder, job: Job, settings: Settings, results: Results) -> None:
    """Finish putting away a job that ended before a crash (its journal says done or failed)."""
    try:
        if job.stage is JobStage.DONE:
            results.done(folder, settings)
        elif job.stage is JobStage.FAILED and job.failure is not None:
            results.failed(folder, job, settings)
    except OSError as exc:
        log.warning("%s: could not put it away yet (%s); tried again later", job.name, exc)


def fail(
    folder: JobFolder, job: Job, exc: BaseException, settings: Settings, results: Results
) -> None:
    """Record the failure in the journal, then hand the files to `results`."""
    sentence, advice = explain(exc, known_as(folder, job, exc))
    job.failure = Failure(
        message=redact(sentence),  # it may quote the service's message, token and all
        stage=job.stage.value,
        code=api_code(exc),
        advice=advice.replace("NAME", job.name),
    )
    folder.note(job, f"failed at {job.stage.value}: {exc}", level=logging.ERROR)
    job.move_to(JobStage.FAILED)
    folder.save(job)
    results.failed(folder, job, settings)


def known_as(folder: JobFolder, job: Job, exc: BaseException) -> str | None:
    """The file a local error concerns, as the person knows it: where it was in the inbox."""
    name = getattr(exc, "filename", None)
    if not isinstance(name, str):
        return None
    path = Path(name)
    if folder.files not in path.parents:
        return name
    inside = path.relative_to(folder.files)
    if "" in job.origins:  # a bundle: its folder was moved whole
        return str(Path(job.origins[""]) / inside)
    return job.origins.get(inside.parts[0], name)


def cancel(folder: JobFolder, job: Job, settings: Settings, results: Results) -> None:
    """A job cancelled by the user: recorded as such, its files to the failed folder."""
    stage = job.stage.value
    paid = any(turn.state.value != "pending" for turn in job.turns)
    job.failure = Failure(
        message=f"Cancelled with `nemowatch cancel` at stage {stage}; nothing more was sent"
        + (" (the turns already sent were paid)." if paid else " and nothing was paid."),
        stage=stage,
        advice=f"`nemowatch retry {job.name}` puts it back in line where it stopped "
        "(it never pays twice); or delete this folder.",
    )
    folder.note(job, f"cancelled at {stage}")
    job.move_to(JobStage.FAILED)
    folder.save(job)
    results.failed(folder, job, settings)


def render_report(job: Job, link: str) -> str:
    lines = [f"nemowatch report: {job.name}", "", f"Result: {job.result}"]
    if job.refines is not None:
        lines.append(refine.describe(job))
    if job.preset:
        opens = "" if job.refines else " (its instructions open turn 1)"
        lines.append(f"Preset: {job.preset}{opens}")
    lines.append("")
    lines.append("Instructions:")
    for i, turn in enumerate(job.turns, 1):
        lines += [f"  Turn {i}:"] + [f"    {line}" for line in turn.text.splitlines()]
    lines += ["", "What the editor answered:"]
    for i, turn in enumerate(job.turns, 1):
        answer = turn.answer or "(no text; the change was verified in the project)"
        lines += [f"  Turn {i}:"] + [f"    {line}" for line in answer.splitlines()]
    lines += ["", job.summary or "Timeline: (not read)", "", f"Open in the web editor: {link}"]
    lines += ["", f"Cost: {job.cost_text() or 'not known (the balance could not be read)'}"]
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
