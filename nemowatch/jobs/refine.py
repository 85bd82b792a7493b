"""Refining a delivered result: `NAME.refine.txt` continues NAME's session.

The refinement is a job without media: its turns are sent in the session of
the latest version of NAME delivered from the same folder in the last
`jobs.refine_days` days, and its export is delivered as `NAME v2.mp4` (then
`v3`, ...). Nothing is uploaded again. It is never a duplicate of its own
original (`duplicate.exempt`), and a lost session is never started over by
itself: a new session would have to pay for the original's edits again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nemowatch.errors import NothingToRefineError
from nemowatch.jobs.model import Job

if TYPE_CHECKING:
    from nemowatch.history_schema import Entry

DAY = 24 * 3600

#: (name, preset, since) -> the latest such delivered job, if any
Lookup = Callable[[str, str | None, float], "Entry | None"]


def version_stem(name: str, version: int) -> str:
    """`clip v2`: the result's name (without suffix) of a refinement."""
    return f"{name} v{version}"


def resolve(job: Job, lookup: Lookup | None, days: float, now: float) -> None:
    """Point the refinement `job` at the result it refines: its session, its version.

    Raises:
        NothingToRefineError: no such result in the last `days` days (or no history).
    """
    where = f"the {job.preset} hot folder" if job.preset else "the inbox"
    found = lookup(job.name, job.preset, now - days * DAY) if lookup is not None else None
    if found is None or not found.session_id:
        raise NothingToRefineError(
            f"{job.name}.refine.txt refines a result named {job.name}, but none was delivered "
            f"from {where} in the last {days:g} days (jobs.refine_days): check the name "
            f"(it is the result's name without .mp4), or drop a video with {job.name}.txt "
            "to start a new job"
        )
    job.name = found.name  # `clip v2.refine.txt` refines clip, as `clip v3`
    job.refines = found.id
    job.refines_result = found.result
    job.session_id, job.task_id = found.session_id, found.task_id
    job.result_version = found.version + 1
    job.result_stem = version_stem(found.name, job.result_version)


def describe(job: Job) -> str:
    """The report's line on what a refinement refines."""
    if job.refines is None:
        return ""
    shown = Path(job.refines_result).name if job.refines_result else job.refines
    return f"Refines: {shown} (job {job.refines}), as version {job.result_version}"
