"""`nemowatch submit`: one job now, in the foreground, through the same pipeline.

The user's files stay where they are (they are uploaded from there); the
journal and log live in `<state>/submit/<job-id>/`, and the result goes to the
outbox like any other. A finished job's folder is removed; an unfinished one
(Ctrl-C, a hold, a crash) stays, `nemowatch status` lists it and
`nemowatch submit --resume [ID]` takes it up where its journal stands: a turn
that was sent is read back, never sent (nor paid for) again.

Ctrl-C asks the job to stop at its next checkpoint (a turn being answered is
answered first); a second Ctrl-C, or `jobs.stop_grace_seconds` going by,
cancels the step at once. Either way the journal says what was sent.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemowatch.api import open_client
from nemowatch.budget import CostControl
from nemowatch.conditions import Conditions
from nemowatch.config import Settings
from nemowatch.errors import AlreadyRunningError, AmbiguousError, NotFoundError, UsageError
from nemowatch.history import History
from nemowatch.jobs import events
from nemowatch.jobs.checks import split_turns
from nemowatch.jobs.context import Context, Outcome
from nemowatch.jobs.finish import SubmitResults, error_text
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage, Turn, TurnState, new_job_id
from nemowatch.jobs.pipeline import Pipeline
from nemowatch.jobs.results import remove_tree
from nemowatch.lock import DaemonLock
from nemowatch.network import NETWORK, NetworkWatch, give_up_in
from nemowatch.progress import progress_bars
from nemowatch.status import SUBMIT_DIR, SUBMIT_LOCK, unfinished_submits

log = logging.getLogger("nemowatch")

#: the outcomes after which nothing is left to resume: the job's folder is removed
FINISHED = (Outcome.DONE, Outcome.FAILED, Outcome.CANCELLED)


@dataclass(frozen=True)
class Ended:
    """How a `submit` ended: the outcome, what to print, the job's id (for `--resume`)."""

    outcome: Outcome
    text: str
    job_id: str

    @property
    def unfinished(self) -> bool:
        return self.outcome not in FINISHED


async def submit(settings: Settings, files: list[Path], instructions: str) -> Ended:
    """Run a new job to its end, or until Ctrl-C stops it at a checkpoint."""
    name = files[0].stem
    folder = JobFolder(settings.folders.state_dir / SUBMIT_DIR / new_job_id(name))
    job = Job(
        id=folder.path.name,
        name=name,
        kind="submit",
        media=[str(f.resolve()) for f in files],
        turns=[Turn(text=t) for t in split_turns(instructions)],
    )
    folder.path.mkdir(parents=True)
    folder.save(job)
    return await _run(settings, folder, job)


async def resume(settings: Settings, wanted: str | None) -> Ended:
    """Take up an unfinished `submit` job (by id or name; the only one when `wanted` is
    None) where its journal stands.

    Raises:
        NotFoundError: no such unfinished job.
        AmbiguousError: several could be meant; the message lists their ids.
    """
    folder = find_unfinished(settings, wanted)
    return await _run(settings, folder, folder.load())


def find_unfinished(settings: Settings, wanted: str | None) -> JobFolder:
    """The folder of the unfinished `submit` job `wanted` (an id or a name) or, when
    None, of the only one that no `submit` runs now."""
    jobs = unfinished_submits(settings.folders.state_dir)
    if wanted is None:
        idle = [(folder, job) for folder, job, holder in jobs if holder is None]
        if not idle:
            raise NotFoundError("no unfinished `submit` job to resume")
        if len(idle) == 1:
            return idle[0][0]
        ids = [job.id for _, job in idle]
        raise AmbiguousError(_which(ids, "several `submit` jobs are unfinished"), ids)
    by_id = [folder for folder, job, _ in jobs if job.id == wanted]
    if by_id:
        return by_id[0]
    by_name = [(folder, job) for folder, job, _ in jobs if job.name == wanted]
    if len(by_name) == 1:
        return by_name[0][0]
    if by_name:
        ids = [job.id for _, job in by_name]
        raise AmbiguousError(_which(ids, f"several unfinished `submit` jobs are {wanted!r}"), ids)
    raise NotFoundError(f"no unfinished `submit` job is {wanted!r}; `nemowatch status` lists them")


def _which(ids: list[str], what: str) -> str:
    return f"{what}; name one: " + ", ".join(f"nemowatch submit --resume {i}" for i in ids)


async def _run(settings: Settings, folder: JobFolder, job: Job) -> Ended:
    """Run the job with bars, the history and Ctrl-C handling; tidy its folder if it ended."""
    lock = DaemonLock(folder.path / SUBMIT_LOCK)
    try:
        lock.acquire(wait=0)
    except AlreadyRunningError as exc:
        raise UsageError(
            f"job {job.id} is being run by another `nemowatch submit` ({exc.holder}); "
            "let that one finish it"
        ) from None
    conditions, stopping = Conditions(), asyncio.Event()
    try:
        settings.folders.outbox.mkdir(parents=True, exist_ok=True)
        with folder.log_kept_open(), progress_bars() as bars, _History(settings) as history:

            def emit(event: events.JobEvent) -> None:
                bars.handle(event)
                history.record(event)  # small writes: this one job waits for nothing else

            async def work() -> Outcome:
                async with open_client(settings) as client:
                    ctx = Context(
                        client,
                        settings,
                        conditions,
                        asyncio.Semaphore(1),
                        stopping,
                        emit=emit,
                        results=SubmitResults(),
                        # the duplicate guard, the daily budget and work hours hold here
                        # too: a held job stops, and `submit --resume` goes on later
                        cost=CostControl(conditions, lambda: settings.jobs, history),
                    )
                    emit(events.StageReached.of(job, stage=job.stage))
                    return await _run_riding_out_the_network(folder, job, ctx)

            grace = settings.jobs.stop_grace_seconds
            outcome = await Interrupts(job, stopping, grace).run(work())
        if outcome in FINISHED:
            remove_tree(folder.path)
    finally:
        lock.release()
    return Ended(outcome, describe(outcome, job, conditions), job.id)


class _History:
    """The history, closed on the way out (it writes what is still waiting)."""

    def __init__(self, settings: Settings) -> None:
        self._history = History.in_state(settings.folders.state_dir)

    def __enter__(self) -> History:
        return self._history

    def __exit__(self, *exc: object) -> None:
        self._history.close()


class Interrupts:
    """Ctrl-C during `submit`: the job stops where its journal can take it up again.

    A turn being sent or answered is answered first (it is paid for; within
    `grace` seconds, and a second Ctrl-C does not wait): the next checkpoint
    comes right after it. Any other step (a session, an upload, a render's
    progress, a download) is abandoned at once: `--resume` does it again from
    the last journaled checkpoint, and none of them costs credits.
    """

    def __init__(self, job: Job, stopping: asyncio.Event, grace: float) -> None:
        self.job, self.stopping, self.grace = job, stopping, grace
        self._task: asyncio.Task[Outcome] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._forced = False

    async def run(self, work: Coroutine[Any, Any, Outcome]) -> Outcome:
        """Run `work` until it ends, or until Ctrl-C stops it (STOPPED)."""
        loop = asyncio.get_running_loop()
        task = self._task = asyncio.create_task(work)
        loop.add_signal_handler(signal.SIGINT, self.interrupted)
        try:
            return await task
        except asyncio.CancelledError:
            if not (self._forced and task.cancelled()):
                raise  # this coroutine itself was cancelled
            return Outcome.STOPPED
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if self._timer is not None:
                self._timer.cancel()

    def interrupted(self) -> None:
        """The SIGINT handler (run by the loop, not inside the signal handler itself)."""
        answering = self.job.stage is JobStage.UPLOADED and any(
            turn.state is TurnState.SENT for turn in self.job.turns
        )
        if self.stopping.is_set() or not answering:
            self.stopping.set()
            self._cancel()
            return
        log.warning(
            "stopping once the editor has answered this turn (within %g s; Ctrl-C again: now)",
            self.grace,
        )
        self.stopping.set()
        self._timer = asyncio.get_running_loop().call_later(self.grace, self._cancel)

    def _cancel(self) -> None:
        self._forced = True
        if self._task is not None:
            self._task.cancel()


async def _run_riding_out_the_network(folder: JobFolder, job: Job, ctx: Context) -> Outcome:
    """Run the job; while the network is away, wait for it (probing with backoff), as the
    daemon does, and go on where the job stands: a turn sent is read back, never resent."""
    network = NetworkWatch(ctx.client, ctx.conditions, ctx.stopping)
    try:
        while True:
            outcome = await Pipeline(folder, job, ctx).run()
            if outcome is not Outcome.HELD or job.held != NETWORK or ctx.stopping.is_set():
                return outcome
            network.watch()  # the hold was logged with its reason; ends once it answers
            give_up = give_up_in(ctx.conditions, ctx.settings.jobs)
            released = asyncio.ensure_future(ctx.conditions.wait_released(NETWORK))
            stop = asyncio.ensure_future(ctx.stopping.wait())
            # then the pipeline fails it for the network, or stops at its checkpoint
            await asyncio.wait({released, stop}, timeout=give_up, return_when="FIRST_COMPLETED")
            for waiter in (released, stop):
                waiter.cancel()
    finally:
        await network.stop()


def describe(outcome: Outcome, job: Job, conditions: Conditions) -> str:
    """What `submit` prints at the end."""
    if outcome is Outcome.DONE:
        lines = [f"result: {job.result}"]
        if job.report:
            lines.append(f"report: {job.report}")
        lines.append(job.summary)
        return "\n".join(lines)
    if outcome is Outcome.STOPPED:
        return f"{job.name}: stopped at stage {job.stage.value}"
    if outcome is Outcome.HELD:
        condition = conditions.get(job.held or "")
        return f"not finished: {condition.reason if condition else job.held}"
    return error_text(job) if job.failure else f"not finished ({outcome.value})"
