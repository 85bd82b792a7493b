"""The job journal's content: stages as an enum, transitions in one place.

`job.json` in the job's folder is the only truth about a job once it has been
claimed. It is rewritten atomically at every step that must survive a crash
(see `journal.py`); a restart reads it and resumes by the table in DESIGN.md.
"""

from __future__ import annotations

import re
import secrets
import time
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from nemowatch.errors import IllegalTransitionError

#: the journal's format; `journal.migrate` brings older journals up to it
JOURNAL_VERSION = 1


class JobStage(StrEnum):
    CLAIMED = "claimed"  # files in the work folder; no session yet
    SESSION = "session"  # session created; files not uploaded
    UPLOADED = "uploaded"  # files uploaded; turns go one by one (see Turn.state)
    EDITED = "edited"  # every turn answered or verified; export next
    RENDERING = "rendering"  # render id journaled; poll it
    DOWNLOADING = "downloading"  # render completed; fetch it
    DELIVERED = "delivered"  # result in the outbox; originals still to move
    DONE = "done"
    FAILED = "failed"


#: every legal move; anything else is a bug and raises
TRANSITIONS: dict[JobStage, set[JobStage]] = {
    JobStage.CLAIMED: {JobStage.SESSION},
    JobStage.SESSION: {JobStage.UPLOADED},
    JobStage.UPLOADED: {JobStage.EDITED},
    JobStage.EDITED: {JobStage.RENDERING},
    JobStage.RENDERING: {JobStage.DOWNLOADING, JobStage.RENDERING},
    JobStage.DOWNLOADING: {JobStage.DELIVERED, JobStage.RENDERING},
    JobStage.DELIVERED: {JobStage.DONE},
    JobStage.DONE: set(),
    JobStage.FAILED: set(),
}
#: a lost session (1002) sends a job back to the start from these stages
RESTARTABLE = {JobStage.SESSION, JobStage.UPLOADED, JobStage.EDITED, JobStage.RENDERING}


class TurnState(StrEnum):
    PENDING = "pending"  # not sent yet
    SENT = "sent"  # journaled as sent: never sent again; recovered by reading the state
    ANSWERED = "answered"  # answered, or the change verified in the project


#: a turn refused before any work was done (2001, 429 on /run_sse) goes back to pending
TURN_TRANSITIONS: dict[TurnState, set[TurnState]] = {
    TurnState.PENDING: {TurnState.SENT},
    TurnState.SENT: {TurnState.ANSWERED, TurnState.PENDING},
    TurnState.ANSWERED: set(),
}


class Turn(BaseModel):
    """One instruction turn; `sent` without an answer means: never send it again."""

    text: str
    state: TurnState = TurnState.PENDING
    fingerprint_before: str | None = None
    answer: str = ""
    silent: bool = False
    verified: bool = False
    #: the fault of the service that broke the turn's stream, if one did
    interrupted_by: str | None = None

    def move_to(self, state: TurnState) -> None:
        if state not in TURN_TRANSITIONS[self.state]:
            raise IllegalTransitionError(f"turn: {self.state.value} -> {state.value}")
        self.state = state


class Failure(BaseModel):
    message: str
    stage: str
    code: int | None = None
    advice: str = ""


class Job(BaseModel):
    version: int = JOURNAL_VERSION
    id: str
    name: str
    kind: Literal["pair", "bundle", "submit", "refine"]
    #: media files: names in the job's `files/` folder (absolute paths for `submit`)
    media: list[str]
    instructions_file: str | None = None
    #: where each claimed file (or the bundle folder, under "") came from
    origins: dict[str, str] = Field(default_factory=dict)
    default_instructions: bool = False
    problem: str | None = None
    stage: JobStage = JobStage.CLAIMED
    turns: list[Turn] = Field(default_factory=list)
    task_id: str | None = None
    session_id: str | None = None
    sessions_lost: int = 0
    render_id: str | None = None
    render_attempts: int = 0
    render_submitted: bool = False
    #: the result's name without suffix, shortened to fit the outbox (set before paying)
    result_stem: str | None = None
    #: the download's temporary file in the outbox, journaled before it is written
    partial: str | None = None
    result: str | None = None
    report: str | None = None
    summary: str = ""
    held: str | None = None
    failure: Failure | None = None
    created_at: float = Field(default_factory=time.time)
    #: when each stage was reached (wall clock), for the report's timings
    reached: dict[str, float] = Field(default_factory=dict)
    #: (size, mtime_ns) of each media file at the claim: checked again after the
    #: upload, before anything is paid (empty in journals written before)
    media_stat: dict[str, tuple[int, int]] = Field(default_factory=dict)
    #: media whose upload was started and whose answer is not recorded yet: the
    #: session may hold them already, so they go to a new session (it is free)
    uploads_started: list[str] = Field(default_factory=list)
    #: a file changed after the claim: the files are being put back into the inbox
    put_back: bool = False
    #: the sha256 of each media file, by its name in `media`, computed during the upload
    media_sha256: dict[str, str] = Field(default_factory=dict)
    #: the hot folder's preset the job came with (None: the plain inbox)
    preset: str | None = None
    #: the id of the job whose result this one refines (never a duplicate of it)
    refines: str | None = None
    #: the result it refines, as it was delivered (for the report)
    refines_result: str | None = None
    #: 1 for a job's own result; 2, 3, ... for its refinements (`NAME v2.mp4`)
    result_version: int = 1
    #: put back by `retry --start-over`: the user asked to pay again, not a duplicate
    pay_again: bool = False
    #: the balance read before the first turn and after the last (what the job cost)
    credits_before: float | None = None
    credits_after: float | None = None
    #: other jobs' turns ran meanwhile: the difference of the balances is approximate
    cost_approximate: bool = False

    def move_to(self, stage: JobStage) -> None:
        if stage is JobStage.FAILED or stage in TRANSITIONS[self.stage]:
            self.stage = stage
            self.reached[stage.value] = time.time()
            return
        raise IllegalTransitionError(f"job {self.id}: {self.stage.value} -> {stage.value}")

    def restart_session(self) -> None:
        """1002: the session is gone; uploads and edits are redone in a new one."""
        if self.stage not in RESTARTABLE:
            raise IllegalTransitionError(f"job {self.id}: session restart from {self.stage.value}")
        self.stage = JobStage.CLAIMED
        self.session_id = self.task_id = self.render_id = None
        self.sessions_lost += 1
        self.turns = [Turn(text=t.text) for t in self.turns]

    @property
    def cost(self) -> float | None:
        """The credits its turns cost: the balance before the first less the one after
        the last (None until both were read)."""
        if self.credits_before is None or self.credits_after is None:
            return None
        return max(0.0, self.credits_before - self.credits_after)

    def cost_text(self) -> str | None:
        """What it cost, in words ("50 credits"); None when not known."""
        cost = self.cost
        if cost is None:
            return None
        if self.cost_approximate:
            return f"about {cost:g} credits (approximate: other jobs' turns ran meanwhile)"
        return f"{cost:g} credits"

    @property
    def next_turn(self) -> int | None:
        return next(
            (i for i, t in enumerate(self.turns) if t.state is not TurnState.ANSWERED), None
        )


def new_job_id(name: str, now: float | None = None) -> str:
    """`20261122-011300-NAME-3f9a`: sortable by claim time, readable, unique."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:40] or "job"
    return f"{stamp}-{slug}-{secrets.token_hex(3)}"
