"""`nemowatch submit`: one job now, in the foreground, through the same pipeline.

The user's files stay where they are (they are uploaded from there); the
journal and log live in `<state>/submit/<job-id>/`, and the result goes to the
outbox like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from nemowatch.api import open_client
from nemowatch.conditions import Conditions
from nemowatch.config import Settings
from nemowatch.history import History
from nemowatch.jobs import events
from nemowatch.jobs.checks import split_turns
from nemowatch.jobs.context import Context, Outcome
from nemowatch.jobs.finish import SubmitResults, error_text
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, Turn, new_job_id
from nemowatch.jobs.pipeline import Pipeline
from nemowatch.network import NETWORK, NetworkWatch, give_up_in
from nemowatch.progress import ProgressBars


async def submit(settings: Settings, files: list[Path], instructions: str) -> tuple[Outcome, str]:
    """Run one job to its end; returns the outcome and what to print."""
    name = files[0].stem
    folder = JobFolder(settings.folders.state_dir / "submit" / new_job_id(name))
    folder.path.mkdir(parents=True)
    job = Job(
        id=folder.path.name,
        name=name,
        kind="submit",
        media=[str(f.resolve()) for f in files],
        turns=[Turn(text=t) for t in split_turns(instructions)],
    )
    folder.save(job)
    settings.folders.outbox.mkdir(parents=True, exist_ok=True)
    bars = ProgressBars()
    history = History.in_state(settings.folders.state_dir)

    def emit(event: events.JobEvent) -> None:
        bars.handle(event)
        history.record(event)  # small writes: this one job waits for nothing else

    conditions = Conditions()
    try:
        async with open_client(settings) as client:
            ctx = Context(
                client,
                settings,
                conditions,
                asyncio.Semaphore(1),
                asyncio.Event(),
                emit=emit,
                results=SubmitResults(),
            )
            outcome = await _run_riding_out_the_network(folder, job, ctx)
    finally:
        bars.close()
        history.close()
    return outcome, describe(outcome, job, conditions)


async def _run_riding_out_the_network(folder: JobFolder, job: Job, ctx: Context) -> Outcome:
    """Run the job; while the network is away, wait for it (probing with backoff), as the
    daemon does, and go on where the job stands: a turn sent is read back, never resent."""
    network = NetworkWatch(ctx.client, ctx.conditions, ctx.stopping)
    try:
        while True:
            outcome = await Pipeline(folder, job, ctx).run()
            if outcome is not Outcome.HELD or job.held != NETWORK:
                return outcome
            network.watch()  # the hold was logged with its reason; ends once it answers
            give_up = give_up_in(ctx.conditions, ctx.settings.jobs)
            with contextlib.suppress(TimeoutError):  # then the pipeline fails it for the network
                await asyncio.wait_for(ctx.conditions.wait_released(NETWORK), give_up)
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
    if outcome is Outcome.HELD:
        condition = conditions.get(job.held or "")
        return f"not finished: {condition.reason if condition else job.held}"
    return error_text(job) if job.failure else f"not finished ({outcome.value})"
