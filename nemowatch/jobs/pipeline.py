"""The pipeline: one job from claimed to delivered, resumable at every stage.

Each stage handler does one step and journals its result before returning;
`run()` loops over the stages and applies the error policy. The table of
DESIGN.md maps onto the handlers:

    claimed            -> _start       checks, instructions, create a session
    session            -> _upload      upload every file into that session
    uploaded           -> _edit        send turn k, or recover turn k if it was sent
    edited             -> _export      wait for a settled draft, journal a render id
    rendering          -> _render      submit (if not yet) and poll that render id
    downloading        -> _download    download again into a temporary file
    delivered          -> finish       report, originals archived, kept or deleted
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from nemowatch.api import Draft, NemoClient, RenderStatus, TurnEvent
from nemowatch.config import Settings
from nemowatch.errors import (
    AgentError,
    ApiError,
    InputError,
    OutOfCreditsError,
    RateLimitedError,
    RenderFailedError,
    ServerError,
    SessionLostError,
    TransportError,
)
from nemowatch.jobs import finish
from nemowatch.jobs.checks import check_media, read_instructions, split_turns
from nemowatch.jobs.gate import PauseGate
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import RESTARTABLE, Job, JobStage, Turn
from nemowatch.jobs.policy import EditNotApplied, hold_reason
from nemowatch.jobs.results import numbered

#: a lost session is started over at most this often before the job fails
MAX_SESSION_RESTARTS = 2
#: a failed render is retried once with a new id
MAX_RENDER_ATTEMPTS = 2


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    HELD = "held"  # an account condition; the job resumes where it stands
    STOPPED = "stopped"  # shutdown at a checkpoint; the journal is current


class JobEvents(Protocol):
    """What the daemon's status and `submit`'s progress bars are told."""

    def stage(self, job: Job) -> None: ...

    def progress(self, job: Job, what: str, done: float, total: float) -> None: ...


class NoEvents:
    def stage(self, job: Job) -> None:
        pass

    def progress(self, job: Job, what: str, done: float, total: float) -> None:
        pass


@dataclass
class Context:
    """What every pipeline shares: the client, settings, the gate, the limits."""

    client: NemoClient
    settings: Settings
    gate: PauseGate
    uploads: asyncio.Semaphore
    stopping: asyncio.Event
    events: JobEvents = field(default_factory=NoEvents)
    #: "daemon": results and failures move files; "submit": the user's files stay put
    mode: str = "daemon"
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic


class Pipeline:
    def __init__(self, folder: JobFolder, job: Job, ctx: Context) -> None:
        self.folder, self.job, self.ctx = folder, job, ctx
        self.client = ctx.client
        self._rate_limited = 0
        self._draft: Draft | None = None
        self._completed: RenderStatus | None = None

    def save(self) -> None:
        self.folder.save(self.job)
        self.ctx.events.stage(self.job)

    def note(self, message: str) -> None:
        self.folder.note(self.job, message)

    async def run(self) -> Outcome:
        """Advance the job until it is done, failed, held or asked to stop."""
        job = self.job
        if job.held:
            job.held = None
            self.save()
        while job.stage is not JobStage.DONE:
            if self.ctx.stopping.is_set() and job.stage is not JobStage.DELIVERED:
                return Outcome.STOPPED
            try:
                await self._step()
            except ApiError as exc:
                if exc.account_wide:
                    return self._hold(exc)
                if isinstance(exc, SessionLostError) and self._can_restart():
                    self.note("the session was lost (1002); starting over in a new session")
                    job.restart_session()
                    self.save()
                    continue
                return self._fail(exc)
            except (InputError, EditNotApplied) as exc:
                return self._fail(exc)
        return Outcome.DONE

    async def _step(self) -> None:
        handlers = {
            JobStage.CLAIMED: self._start,
            JobStage.SESSION: self._upload,
            JobStage.UPLOADED: self._edit,
            JobStage.EDITED: self._export,
            JobStage.RENDERING: self._render,
            JobStage.DOWNLOADING: self._download,
            JobStage.DELIVERED: self._finish,
        }
        await handlers[self.job.stage]()

    def _can_restart(self) -> bool:
        return self.job.stage in RESTARTABLE and self.job.sessions_lost < MAX_SESSION_RESTARTS

    def _hold(self, exc: ApiError) -> Outcome:
        reason = hold_reason(
            exc, web_url=self.ctx.settings.api.web_url, client_id=self.client.anonymous_client_id
        )
        self.job.held = reason
        self.save()
        self.note(f"held at {self.job.stage.value}: {reason}")
        self.ctx.gate.pause(reason, exc)
        return Outcome.HELD

    def _fail(self, exc: BaseException) -> Outcome:
        finish.fail(self.folder, self.job, exc, self.ctx.settings, submit=self.ctx.mode == "submit")
        self.ctx.events.stage(self.job)
        return Outcome.FAILED

    # -- stages -------------------------------------------------------------

    async def _start(self) -> None:
        job = self.job
        if job.problem:
            raise InputError(job.problem)
        check_media(self.folder.media_paths(job), self.ctx.settings.jobs)
        if not job.turns:
            instructions = self.folder.instructions_path(job)
            text = (
                read_instructions(instructions)
                if instructions
                else self.ctx.settings.watch.default_instructions
            )
            job.turns = [Turn(text=t) for t in split_turns(text)]
        session = await self.client.create_session()
        job.session_id, job.task_id = session.session_id, session.task_id
        job.move_to(JobStage.SESSION)
        self.save()
        self.note(f"session created; {len(job.turns)} instruction turn(s)")

    async def _upload(self) -> None:
        job = self.job
        paths = self.folder.media_paths(job)

        def progress(sent: int, total: int) -> None:
            self.ctx.events.progress(job, "upload", sent, total)

        async with self.ctx.uploads:
            result = await self.client.upload(self._session_id(), paths, progress=progress)
        job.move_to(JobStage.UPLOADED)
        self.save()
        self.note(
            f"uploaded {len(paths)} file(s), {result.bytes_sent / 1e6:.1f} MB "
            f"in {result.seconds:.1f} s"
        )

    async def _edit(self) -> None:
        job = self.job
        index = job.next_turn
        if index is None:
            job.move_to(JobStage.EDITED)
            self.save()
            return
        turn = job.turns[index]
        label = f"turn {index + 1} of {len(job.turns)}"
        if turn.state == "sent":
            self.note(f"{label} was sent before a restart; reading the project, not sending again")
            await self._recover(turn, label)
            return
        await self._before_paid_step()
        turn.fingerprint_before = (await self.client.get_state(self._session_id())).fingerprint()
        turn.state = "sent"
        self.save()  # journaled before sending: a crash from here on never resends it
        self.note(f"{label} sent")
        try:
            result = await self.client.send_turn(
                self._session_id(), turn.text, on_event=self._turn_event
            )
        except (OutOfCreditsError, RateLimitedError) as exc:
            turn.state = "pending"  # refused before any work was done: not charged
            self.save()
            if (
                isinstance(exc, RateLimitedError)
                and self._rate_limited < self.ctx.settings.jobs.retries
            ):
                self._rate_limited += 1
                await self.ctx.sleep(exc.retry_after or self.ctx.settings.api.rate_limit_seconds)
                return
            raise
        except (TransportError, ServerError, AgentError) as exc:
            self.note(f"{label}: the stream ended without an answer ({exc}); reading the project")
            await self._recover(turn, label)
            return
        turn.answer, turn.silent = result.text, result.silent
        if result.silent:
            await self._recover(turn, label, first_wait=0.0)
            return
        turn.state = "answered"
        self._save_answered()
        self.note(f"{label} answered: {_shorten(result.text)}")

    def _save_answered(self) -> None:
        """Journal an answered turn; after the last one, the stage moves on in the same write."""
        if self.job.next_turn is None:
            self.job.move_to(JobStage.EDITED)
        self.save()

    def _turn_event(self, event: TurnEvent) -> None:
        if event.is_progress:
            self.ctx.events.progress(self.job, "edit", 0, 0)

    async def _recover(self, turn: Turn, label: str, first_wait: float | None = None) -> None:
        """Read the state until it differs from before the turn; never send the turn again."""
        api = self.ctx.settings.api
        first = api.recovery_first_wait_seconds if first_wait is None else first_wait
        waits = [first] + [api.recovery_wait_seconds] * (api.recovery_max_checks - 1)
        for wait in waits:
            await self.ctx.sleep(wait)
            state = await self.client.get_state(self._session_id())
            if state.fingerprint() != turn.fingerprint_before:
                turn.state, turn.verified = "answered", True
                self._save_answered()
                how = (
                    "silent; the change was verified" if turn.silent else "verified in the project"
                )
                self.note(f"{label} {how}")
                return
        raise EditNotApplied(f"{label}: the project did not change after {len(waits)} checks")

    async def _before_paid_step(self) -> None:
        await self.ctx.gate.wait_open()
        credits = await self.client.credits()
        needed = self.ctx.settings.jobs.min_credits
        if credits.available < needed:
            raise OutOfCreditsError(
                f"{credits.available:g} credits available, {needed} needed", code=2001
            )

    async def _export(self) -> None:
        job = self.job
        await self.ctx.gate.wait_open()
        self._draft = await self._settled_draft()
        job.summary = self._draft.summary()
        job.render_id = self.client.new_render_id()
        job.render_attempts += 1
        job.render_submitted = False
        job.move_to(JobStage.RENDERING)
        self.save()

    async def _settled_draft(self) -> Draft:
        """The draft once ready and unchanged for `state_settle_seconds` (one read if that is 0)."""
        export = self.ctx.settings.export
        settle = export.state_settle_seconds
        interval = 1.0 if settle >= 1 else max(settle / 2, 0.05)  # reads a second apart
        deadline = self.ctx.clock() + export.timeout_seconds
        last, since = "", 0.0
        while True:
            state = await self.client.get_state(self._session_id())
            now = self.ctx.clock()
            if state.draft.is_ready_for_export:
                if state.fingerprint() != last:
                    last, since = state.fingerprint(), now
                if now - since >= settle:
                    return state.draft
            else:
                last = ""
            if now > deadline:
                raise EditNotApplied("the project never became ready to export")
            await self.ctx.sleep(interval)

    async def _render(self) -> None:
        job = self.job
        assert job.render_id
        if not job.render_submitted:
            await self.ctx.gate.wait_open()
            draft = self._draft or (await self.client.get_state(self._session_id())).draft
            await self.client.start_render(self._session_id(), draft, job.render_id)
            # Journaled with the next stage: a restart before that submits the same id
            # again, which starts no second render (and export costs no credits).
            job.render_submitted = True
            self.note(f"render {job.render_id} started")

        def progress(status: object) -> None:
            value = getattr(status, "progress", None)
            if isinstance(value, float):
                self.ctx.events.progress(job, "render", value, 100)

        try:
            self._completed = await self.client.wait_for_render(job.render_id, on_progress=progress)
        except RenderFailedError:
            if job.render_attempts >= MAX_RENDER_ATTEMPTS:
                raise
            job.render_id = self.client.new_render_id()
            job.render_attempts += 1
            job.render_submitted = False
            job.move_to(JobStage.RENDERING)
            self.save()
            self.note(f"the render failed; trying once more as {job.render_id}")
            return
        job.move_to(JobStage.DOWNLOADING)
        self.save()

    async def _download(self) -> None:
        job = self.job
        assert job.render_id
        # The status that just said "completed" holds a fresh output.url; after a
        # restart or a failed attempt, ask again.
        status, self._completed = self._completed, None
        if status is None or status.render_id != job.render_id:
            status = await self.client.render_status(job.render_id)
        outbox = self.ctx.settings.folders.outbox
        suffix = "." + self.ctx.settings.export.format

        def progress(done: int, total: int) -> None:
            self.ctx.events.progress(job, "download", done, total)

        for dest in numbered(outbox, job.name, suffix):
            if dest.exists():
                continue
            try:
                path = await self.client.download(status, dest, progress=progress)
            except FileExistsError:
                continue  # taken meanwhile: never overwrite, take the next name
            break
        job.result = str(path)
        job.move_to(JobStage.DELIVERED)
        self.save()
        self.note(f"delivered {path}")

    async def _finish(self) -> None:
        await finish.deliver(self, submit=self.ctx.mode == "submit")

    def _session_id(self) -> str:
        assert self.job.session_id, "a session id is journaled before this stage"
        return self.job.session_id


def _shorten(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
