"""`nemowatch submit`: one job now, in the foreground, through the same pipeline.

The user's files stay where they are (they are uploaded from there); the
journal and log live in `<state>/submit/<job-id>/`, and the result goes to the
outbox like any other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from nemowatch.api import open_client
from nemowatch.conditions import Conditions
from nemowatch.config import Settings
from nemowatch.jobs.checks import split_turns
from nemowatch.jobs.context import Context, Outcome
from nemowatch.jobs.finish import SubmitResults, error_text
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, Turn, new_job_id
from nemowatch.jobs.pipeline import Pipeline
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
    conditions = Conditions()
    try:
        async with open_client(settings) as client:
            ctx = Context(
                client,
                settings,
                conditions,
                asyncio.Semaphore(1),
                asyncio.Event(),
                emit=bars.handle,
                results=SubmitResults(),
            )
            outcome = await Pipeline(folder, job, ctx).run()
    finally:
        bars.close()
    return outcome, describe(outcome, job, conditions)


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
