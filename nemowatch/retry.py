"""`nemowatch retry NAME`: a failed job goes back in line, and pays for nothing twice.

A plain retry resumes at the last safe step (DESIGN.md, "Money"):

- no turn was ever sent: the job starts over from the files now in its failed
  folder (the user may have fixed them there); nothing had been paid.
- a turn was sent or answered: the journal's session, uploads and turns are
  kept and the job resumes at the stage it failed at; a turn sent without an
  answer stays `sent` and is read back from the project, never sent again. A
  job that failed after its edits (export, render, download) resumes at export.

Paying again is only done on request, once `confirm` has agreed to the cost:
`Mode.RESEND` sends the unanswered turn once more in the same session,
`Mode.START_OVER` starts a new session and sends every turn again.

NAME must name a folder directly inside the failed folder; anything else (a
path, `..`, a link) is refused before anything is touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nemowatch import retry_refine
from nemowatch.config import Settings
from nemowatch.errors import InputError, NemoError, UsageError
from nemowatch.jobs.checks import read_instructions, split_turns
from nemowatch.jobs.finish import ERROR_FILE
from nemowatch.jobs.journal import JOURNAL, LOG, JobFolder
from nemowatch.jobs.model import Job, JobStage, TurnState, new_job_id
from nemowatch.jobs.results import shown_entries
from nemowatch.watch.files import FileKind, classify

NOT_ORIGINALS = {ERROR_FILE, LOG, JOURNAL}
#: credits one edit turn is reckoned to cost, unless `jobs.turn_cost_estimate` says otherwise
TURN_COST_ESTIMATE = 50.0
#: the code of a lost session: resuming in it would only fail again
SESSION_LOST = 1002
#: where a job that has sent turns resumes, by the stage it failed at; after its
#: edits it exports again in its session (a render id of a failed attempt is not reused)
RESUME_AT = {
    JobStage.UPLOADED: JobStage.UPLOADED,
    JobStage.EDITED: JobStage.EDITED,
    JobStage.RENDERING: JobStage.EDITED,
    JobStage.DOWNLOADING: JobStage.EDITED,
    JobStage.DELIVERED: JobStage.DELIVERED,
}
#: a failure at one of these stages came after every turn was paid for
PAID_STAGES = {JobStage.EDITED, JobStage.RENDERING, JobStage.DOWNLOADING, JobStage.DELIVERED}

#: shown what paying again will cost, answers whether to go ahead
Confirm = Callable[[str], bool]


class Mode(StrEnum):
    RESUME = "resume"  # at the last safe step; never pays again
    RESEND = "resend"  # the unanswered turn once more, in the same session
    START_OVER = "start-over"  # a new session; every turn sent again


@dataclass(frozen=True)
class Plan:
    """What a retry will do, worked out before anything is touched."""

    job: Job  # the journal to write; its id names the new folder in the work folder
    how: str  # what the job does next, for the message and job.log
    cost: str | None = None  # what paying again costs; None when nothing is paid again
    #: files copied into the job besides the failed folder's (a refinement's originals)
    copies: tuple[Path, ...] = ()


def _never(cost: str) -> bool:
    return False


def retry(
    settings: Settings, name: str, mode: Mode = Mode.RESUME, confirm: Confirm = _never
) -> str | None:
    """Put `<failed>/NAME` back into the work folder.

    Args:
        name: a job folder's name in the failed folder, as `nemowatch status` lists it.
        mode: resume without paying again, or pay again as asked (`RESEND`, `START_OVER`).
        confirm: shown the cost line of a paying mode; False leaves everything as it is.

    Returns:
        What was done, or None when the payment was not confirmed (nothing changed).

    Raises:
        UsageError: NAME is not a failed job's folder, or the job cannot be retried
            that way (nothing to resend, a lost session); nothing was changed.
        InputError: the journal or, for a start-over, the instructions cannot be read.
    """
    source = failed_job(settings.folders.failed, name)
    plan = _plan(settings, source, mode)
    if plan.cost is not None and not confirm(plan.cost):
        return None
    job = _move_back(settings, source, plan)
    return f"{job.name} {plan.how}; the daemon picks it up within watch.rescan_seconds"


def cost_of(settings: Settings, name: str, mode: Mode) -> str | None:
    """What retrying NAME this way pays again (None: nothing); changes nothing.

    Raises:
        UsageError, InputError: as `retry` does.
    """
    return _plan(settings, failed_job(settings.folders.failed, name), mode).cost


def retry_all(settings: Settings) -> str:
    """Put every failed job back in line at its last safe step (never paying again);
    one that cannot be is named with its reason, and the others go on."""
    failed = settings.folders.failed
    names = sorted(p.name for p in shown_entries(failed) if (p / ERROR_FILE).is_file())
    done, refused = [], []
    for name in names:
        try:
            retry(settings, name, Mode.RESUME)
            done.append(name)
        except (NemoError, OSError) as exc:
            refused.append(f"{name} stays in the failed folder: {exc}")
    return "\n".join([f"{len(done)} failed job(s) back in line", *refused])


def failed_job(failed: Path, name: str) -> Path:
    """`<failed>/NAME`, when NAME is a job folder directly inside the failed folder.

    Raises:
        UsageError: NAME is empty, a path, `.` or `..`, a link, or not a folder there.
    """
    if not name or name in {".", ".."} or "/" in name or "\0" in name:
        raise UsageError(
            f"{name!r} is not the name of a failed job: give the name of a folder "
            f"in {failed} (as `nemowatch status` lists it), not a path"
        )
    path = failed / name
    if path.is_symlink():
        raise UsageError(f"{path} is a link, not a failed job's folder; nothing was changed")
    if not path.is_dir() or path.resolve().parent != failed.resolve():
        raise UsageError(
            f"there is no failed job {name!r} in {failed} (`nemowatch status` lists them)"
        )
    return path


def _plan(settings: Settings, source: Path, mode: Mode) -> Plan:
    try:
        old = _old_journal(source)
    except InputError:
        if mode is not Mode.START_OVER:
            raise
        old = None  # starting afresh needs only the files
    if mode is Mode.START_OVER:
        return _start_over(settings, source, old)
    if old is None or not _paid(old):
        if mode is Mode.RESEND:
            raise UsageError(
                f"{source.name}: no turn of this job was sent, so there is nothing to "
                f"resend; `nemowatch retry {source.name}` starts it over without paying twice"
            )
        how = (
            "starts over from the files in the failed folder; no turn had been sent, "
            "so nothing is paid twice"
        )
        return Plan(_fresh(source, old), how)
    job = _resumed(source.name, old)
    if mode is Mode.RESEND:
        return _resend(settings, source.name, job)
    return Plan(job, f"{_where(job)}; nothing already paid is paid again")


def _old_journal(source: Path) -> Job | None:
    """The failed job's journal; None when there is none (a folder put there by hand).

    Raises:
        InputError: it is there but cannot be read (nothing can be known of what was paid).
    """
    folder = JobFolder(source)
    if not folder.journal.exists():
        return None
    try:
        return folder.load()
    except (OSError, ValueError, NemoError) as exc:
        raise InputError(
            f"the journal {folder.journal} cannot be read ({exc}), so what was paid is "
            f"unknown; nothing was changed. `nemowatch retry {source.name} --start-over` "
            "starts the job afresh from its files (and says what that costs)"
        ) from exc


def _paid(job: Job) -> bool:
    """Whether a turn was ever sent: from then on, starting over would pay again."""
    sent = any(turn.state is not TurnState.PENDING for turn in job.turns)
    return sent or _failed_at(job) in PAID_STAGES


def _failed_at(job: Job) -> JobStage | None:
    at = job.failure.stage if job.failure else job.stage.value
    try:
        return JobStage(at)
    except ValueError:
        return None


def _resumed(name: str, old: Job) -> Job:
    """The journal as it was, with its session, uploads and turns, at a stage to resume at."""
    again = (
        f"`nemowatch retry {name} --start-over` starts a new session and sends every "
        "turn again (it says what that costs first)"
    )
    if old.failure is not None and old.failure.code == SESSION_LOST:
        raise UsageError(
            f"{name}: its session is lost (NemoVideo no longer knows it) after turns were "
            f"sent, so it cannot resume where it stopped; {again}"
        )
    failed_at = _failed_at(old)
    stage = RESUME_AT.get(failed_at) if failed_at is not None else None
    if stage is None or not old.session_id:
        raise UsageError(
            f"{name}: it sent turns, then failed at {failed_at or 'an unknown stage'}, where "
            f"it cannot resume without paying again; {again}"
        )
    job = old.model_copy(
        deep=True, update={"id": new_job_id(old.name), "failure": None, "held": None}
    )
    job.stage = stage
    if stage is JobStage.EDITED:  # export again: a new render id, a fresh count of attempts
        job.render_id, job.render_attempts, job.render_submitted = None, 0, False
    return job


def _where(job: Job) -> str:
    """Where a resumed job takes up its work, in words."""
    if job.stage is JobStage.DELIVERED:
        return f"resumes after delivery (its result {job.result} stays) to put its files away"
    index = job.next_turn
    if job.stage is JobStage.EDITED or index is None:
        return "resumes at export in its session (the edit is not sent again)"
    label = f"turn {index + 1} of {len(job.turns)}"
    if job.turns[index].state is TurnState.SENT:
        return (
            f"resumes at {label} in its session: that turn was sent before, so it is "
            "read back from the project, not sent again"
        )
    return f"resumes at {label} in its session (the answered turns are not sent again)"


def _resend(settings: Settings, name: str, job: Job) -> Plan:
    """The unanswered turn goes back to pending: it is sent once more, and paid once more."""
    index = next((i for i, t in enumerate(job.turns) if t.state is TurnState.SENT), None)
    if index is None:
        raise UsageError(
            f"{name}: no turn is waiting for an answer (every turn sent was answered), so "
            f"there is nothing to resend; `nemowatch retry {name}` resumes it without "
            "paying again"
        )
    turn = job.turns[index]
    turn.move_to(TurnState.PENDING)
    turn.fingerprint_before, turn.answer, turn.silent, turn.verified = None, "", False, False
    label = f"turn {index + 1} of {len(job.turns)}"
    unanswered = sum(1 for t in job.turns if t.state is not TurnState.ANSWERED)
    cost = _cost_line(settings, f"{job.name}: --resend sends {label} once more", unanswered)
    how = f"resumes in its session and sends {label} once more (paid again, as confirmed)"
    return Plan(job, how, cost)


def _start_over(settings: Settings, source: Path, old: Job | None) -> Plan:
    """A fresh journal from the files: a new session, every turn sent (and paid) again."""
    if old is not None and old.kind == "refine":
        job, media = retry_refine.start_over(settings, source, old)
        what = (
            f"{job.name}: --start-over redoes the original instructions and the refinement "
            "in a new session, from the archived originals"
        )
        how = (
            f"starts over in a new session from the archived originals; every turn is sent "
            f"again (paid again, as confirmed), delivered as {job.result_stem}"
        )
        return Plan(job, how, _cost_line(settings, what, len(job.turns)), tuple(media))
    job = _fresh(source, old)
    job.pay_again = True  # asked for: the duplicate guard does not refuse it
    turns = _turns_of(settings, source, job)
    what = f"{job.name}: --start-over starts a new session and sends every turn again"
    how = "starts over in a new session; every turn is sent again (paid again, as confirmed)"
    return Plan(job, how, _cost_line(settings, what, len(turns)))


def _fresh(source: Path, old: Job | None) -> Job:
    """A journal as a claim writes it, from the files now in the failed folder."""
    if old is not None and old.kind == "refine":  # its .refine.txt, looked up afresh
        return Job(
            id=new_job_id(old.name),
            name=old.name,
            kind="refine",
            media=[],
            instructions_file=old.instructions_file,
            preset=old.preset,
        )
    name = old.name if old else source.name
    originals = _originals(source)
    texts = [p.name for p in originals if classify(p.name) is FileKind.INSTRUCTIONS]
    default = bool(old and old.default_instructions) and not texts
    one_text = len(texts) == 1 or default
    return Job(
        id=new_job_id(name),
        name=name,
        kind="pair",
        media=[p.name for p in originals if classify(p.name) is not FileKind.INSTRUCTIONS],
        instructions_file=texts[0] if texts else None,
        default_instructions=default,
        problem=None if one_text else "the job folder needs exactly one .txt file",
        preset=old.preset if old else None,
    )


def _turns_of(settings: Settings, source: Path, job: Job) -> list[str]:
    """The turns a start-over will send, read as the pipeline will read them."""
    try:
        if job.problem:
            raise InputError(job.problem)
        text = (
            read_instructions(source / job.instructions_file)
            if job.instructions_file
            else settings.watch.default_instructions
        )
        return split_turns(text)
    except (OSError, InputError) as exc:
        raise InputError(
            f"{source}: {exc}; fix it there first (nothing was changed or paid)"
        ) from exc


def _cost_line(settings: Settings, what: str, turns: int) -> str:
    # `jobs.turn_cost_estimate` is read when the settings have it; 50 credits a turn otherwise
    per_turn = float(getattr(settings.jobs, "turn_cost_estimate", TURN_COST_ESTIMATE))
    plural = "" if turns == 1 else "s"
    return f"{what}: {turns} turn{plural} will be sent, about {turns * per_turn:g} credits."


def _originals(source: Path) -> list[Path]:
    return sorted(p for p in source.iterdir() if p.name not in NOT_ORIGINALS)


def _move_back(settings: Settings, source: Path, plan: Plan) -> Job:
    """Originals and log into a new job folder, the journal last, then the failed folder goes."""
    job, how = plan.job, plan.how
    folder = JobFolder(settings.folders.work_dir / job.id)
    folder.files.mkdir(parents=True)
    retry_refine.copy_in(list(plan.copies), folder.files)
    for path in _originals(source):
        shutil.move(str(path), str(folder.files / path.name))
    if (source / LOG).exists():
        shutil.copyfile(source / LOG, folder.log_file)
    folder.note(job, f"put back in line by `nemowatch retry`; it {how}")
    folder.save(job)  # the journal last: a job folder with a journal is complete
    shutil.rmtree(source)
    return job
