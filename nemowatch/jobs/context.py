"""What a running job shares with its steps: the context, the outcome, the step's needs.

`JobRun` holds one job, its folder and the shared `Context`; it journals
(`save`), notes (`note`) and tells listeners (`emit`). The pipeline's steps
build on it: the turns in `turns.py`, the rest in `pipeline.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from nemowatch.api import NemoClient
from nemowatch.conditions import Conditions, Work
from nemowatch.config import Settings
from nemowatch.disk import DiskWatch
from nemowatch.folderwatch import FolderWatch
from nemowatch.jobs import events, finish, refine
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage, TurnState
from nemowatch.presets import job_settings

if TYPE_CHECKING:
    from nemowatch.budget import CostControl


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    HELD = "held"  # a condition holds the job's next step; it resumes where it stands
    STOPPED = "stopped"  # shutdown at a checkpoint; the journal is current
    CANCELLED = "cancelled"  # its folder was removed: nothing more is done for it
    DEFERRED = "deferred"  # delivered; the report or the originals' move is tried again later
    #: a file changed after the claim: the files are back in the inbox, nothing was paid
    PUT_BACK = "put back"


def needs(job: Job) -> Work:
    """The kind of work the job's next step is (what a condition may hold)."""
    stage = job.stage
    if stage is JobStage.UPLOADED:
        index = job.next_turn
        if index is None:
            return Work.API_CALLS
        if index == 0 and job.turns[0].state is TurnState.PENDING:  # starting paid work
            return Work.PAID_TURNS | Work.FIRST_TURNS
        return Work.PAID_TURNS
    if stage is JobStage.EDITED or (stage is JobStage.RENDERING and not job.render_submitted):
        return Work.EXPORTS
    if stage is JobStage.DOWNLOADING:
        return Work.API_CALLS | Work.DELIVERIES
    if stage is JobStage.DELIVERED:
        return Work.DELIVERIES
    return Work.API_CALLS


@dataclass
class Context:
    """What every pipeline shares: the client, settings, conditions, limits, listeners."""

    client: NemoClient
    settings: Settings
    conditions: Conditions
    uploads: asyncio.Semaphore
    stopping: asyncio.Event
    emit: events.Emit = events.ignore
    #: where the files go at the end (inbox jobs move them; `submit` leaves them)
    results: finish.Results = field(default_factory=finish.InboxResults)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    #: where a full or unwritable folder is reported (None: the job fails instead)
    disk: DiskWatch | None = None
    #: looks at the outbox and failed folder when a write there finds them gone
    folder_watch: FolderWatch | None = None
    #: ids of the jobs to cancel at their next checkpoint (`nemowatch cancel`)
    cancel_requests: set[str] = field(default_factory=set)
    #: the duplicate guard, the budget and work hours (None: none of them applies)
    cost: CostControl | None = None
    #: finds the delivered result a refinement continues (None: no history, none found)
    deliveries: refine.Lookup | None = None


class JobRun:
    """One job in progress: journal, log and events, for the steps built on it."""

    def __init__(self, folder: JobFolder, job: Job, ctx: Context) -> None:
        self.folder, self.job, self.ctx = folder, job, ctx
        self.client = ctx.client
        self._told = job.stage

    @property
    def settings(self) -> Settings:
        """The settings this job runs with: those in force (a reload replaces them),
        with its preset's over them (`presets.job_settings`)."""
        return job_settings(self.ctx.settings, self.job.preset)

    def save(self) -> None:
        self.folder.save(self.job)
        self.tell()

    def tell(self) -> None:
        """Tell the listeners the stage reached, once per stage (`save` does it too)."""
        if self.job.stage is not self._told:
            self._told = self.job.stage
            self.ctx.emit(events.StageReached.of(self.job, stage=self.job.stage))

    def note(self, message: str) -> None:
        self.folder.note(self.job, message)

    def progress(self, what: str, done: float, total: float, **turn: int) -> None:
        self.ctx.emit(events.Progress.of(self.job, what=what, done=done, total=total, **turn))

    def session_id(self) -> str:
        assert self.job.session_id, "a session id is journaled before this stage"
        return self.job.session_id
