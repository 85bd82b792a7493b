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

import contextlib
import logging
import time

from nemowatch.api import Draft
from nemowatch.conditions import Condition
from nemowatch.errors import (
    ApiError,
    EditNotAppliedError,
    InputError,
    JobRemovedError,
    RefinedSessionLostError,
    RenderFailedError,
    RenderNotFoundError,
    SessionLostError,
    TidyingError,
    UploadUnknownError,
)
from nemowatch.jobs import events, finish, refine
from nemowatch.jobs.checks import check_media, inbox_names, read_instructions, split_turns
from nemowatch.jobs.claim import put_back_if_changed
from nemowatch.jobs.context import Context, Outcome, needs
from nemowatch.jobs.delivery import DeliverySteps
from nemowatch.jobs.duplicate import digests
from nemowatch.jobs.environment import holding
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import RESTARTABLE, Job, JobStage, Turn, TurnState
from nemowatch.jobs.policy import account_condition, hold_reason, keeps_trying
from nemowatch.jobs.rendering import wait_for_render
from nemowatch.jobs.uploading import send_media
from nemowatch.network import Patience
from nemowatch.presets import opening

#: a lost session is started over at most this often before the job fails
log = logging.getLogger("nemowatch.jobs")

MAX_SESSION_RESTARTS = 2
#: uploads whose answer was lost after the whole body was sent, each redone in a new session
MAX_UNKNOWN_UPLOADS = 2
#: a failed render is retried once with a new id
MAX_RENDER_ATTEMPTS = 2


class Pipeline(DeliverySteps):
    def __init__(self, folder: JobFolder, job: Job, ctx: Context) -> None:
        super().__init__(folder, job, ctx)
        self._draft: Draft | None = None
        self._resubmitted = False

    async def run(self) -> Outcome:
        """Advance the job until it is done, failed, held, cancelled or asked to stop."""
        try:
            return await self._advance()
        except JobRemovedError as exc:
            # the user removed the job's folder: nothing more is sent or written for it
            job = self.job
            log.warning("%s: %s; the job is cancelled, nothing more is sent", job.name, exc)
            self.ctx.emit(events.Cancelled.of(job, stage=job.stage.value))
            return Outcome.CANCELLED

    async def _advance(self) -> Outcome:
        job = self.job
        if job.held:
            job.held = None
            self.save()
        unknown_uploads, patience = 0, Patience(self)
        while job.stage is not JobStage.DONE:
            if self.ctx.stopping.is_set() and job.stage is not JobStage.DELIVERED:
                self.ctx.emit(events.Stopped.of(job))
                return Outcome.STOPPED
            if job.id in self.ctx.cancel_requests and job.stage is not JobStage.DELIVERED:
                return self._cancel()
            condition = self.ctx.conditions.blocking(needs(job))
            if condition is not None:
                gone = patience.gone_too_long(condition)
                return self._fail(gone) if gone else self._held(condition)
            try:
                await self._step()
                patience.went_through()
            except ApiError as exc:
                if exc.account_wide:
                    name, holds = account_condition(exc)
                    reason = hold_reason(
                        exc,
                        web_url=self.settings.api.web_url,
                        client_id=self.client.anonymous_client_id,
                    )
                    # held on this condition even where it holds other work (a 402
                    # while polling): the job waits for its release, not in a loop
                    return self._held(self.ctx.conditions.raise_(name, reason, holds))
                if isinstance(exc, SessionLostError) and job.kind == "refine":
                    return self._fail(RefinedSessionLostError(exc.api_message, code=exc.code))
                if isinstance(exc, SessionLostError) and self._can_restart():
                    self.note("the session was lost (1002); starting over in a new session")
                    job.restart_session()
                    self.save()
                    continue
                if isinstance(exc, UploadUnknownError) and unknown_uploads < MAX_UNKNOWN_UPLOADS:
                    unknown_uploads += 1  # free: the next attempt takes a new session
                    self.note(f"{exc}; uploading again into a new session")
                    continue
                if keeps_trying(exc):  # the network (all jobs held), or this job's own fault
                    verdict = await patience.ride_out(exc)
                    if isinstance(verdict, Condition):
                        return self._held(verdict)
                    if verdict:
                        continue
                return self._fail(exc)
            except (InputError, EditNotAppliedError) as exc:
                return self._fail(exc)
            except TidyingError as exc:
                self.folder.note(job, f"{exc}; tried again later", level=logging.WARNING)
                return Outcome.DEFERRED
            except OSError as exc:  # a full disk, a vanished outbox: the job waits
                return self._held(holding(self.ctx, exc))
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
        """A lost session is started over only while no turn was sent: after one, a new
        session would pay for the edits again, which only the user may ask for."""
        job = self.job
        if job.kind == "refine":  # a new session would hold none of the original's work
            return False
        unpaid = all(turn.state is TurnState.PENDING for turn in job.turns)
        return unpaid and job.stage in RESTARTABLE and job.sessions_lost < MAX_SESSION_RESTARTS

    def _held(self, condition: Condition) -> Outcome:
        """Record which condition holds the job (its reason lives in the registry)."""
        job = self.job
        job.held = condition.name
        with contextlib.suppress(OSError):  # informative only: the registry holds the reason
            self.save()
        self.note(f"held at {job.stage.value}: {condition.reason}")
        self.ctx.emit(
            events.Held.of(job, stage=job.stage, condition=condition.name, reason=condition.reason)
        )
        return Outcome.HELD

    def _cancel(self) -> Outcome:
        """`nemowatch cancel`: nothing more is sent; the originals go to the failed folder."""
        job, stage = self.job, self.job.stage.value
        self.ctx.cancel_requests.discard(job.id)
        finish.cancel(self.folder, job, self.settings, self.ctx.results)
        self.ctx.emit(events.Cancelled.of(job, stage=stage))
        return Outcome.CANCELLED

    def _fail(self, exc: BaseException) -> Outcome:
        job = self.job
        try:
            finish.fail(self.folder, job, exc, self.settings, self.ctx.results)
        except OSError as again:
            condition = holding(self.ctx, again)
            if not self.folder.failed_on_disk():
                return self._held(condition)  # not journaled: tried again once it can be
            self.note(f"to the failed folder once it takes writes again ({condition.reason})")
        failure = job.failure
        assert failure is not None
        self.ctx.emit(
            events.Failed.of(job, stage=failure.stage, message=failure.message, code=failure.code)
        )
        return Outcome.FAILED

    # -- stages -------------------------------------------------------------

    async def _start(self) -> None:
        job = self.job
        if job.problem:
            raise InputError(job.problem)
        if job.kind == "refine":
            self._start_refinement()
            return
        check_media(self.folder.media_paths(job), self.settings.jobs, inbox_names(job))
        if not job.turns:
            job.turns = [Turn(text=t) for t in split_turns(self._instructions())]
        session = await self.client.create_session(self.settings.api.language)
        job.session_id, job.task_id = session.session_id, session.task_id
        job.uploads_started = []  # a new session holds nothing yet
        job.move_to(JobStage.SESSION)
        self.save()
        self.note(f"session created; {len(job.turns)} instruction turn(s)")

    def _instructions(self) -> str:
        """The job's instructions: its `.txt`, after its preset's, or the defaults."""
        job = self.job
        path = self.folder.instructions_path(job)
        own = read_instructions(path) if path else ""
        if job.preset is None:
            return own if path else self.settings.watch.default_instructions
        preset = self.settings.presets.get(job.preset)
        if preset is None and not path:
            raise InputError(
                f"the preset {job.preset} is no longer in the configuration and {job.name} "
                f"has no .txt: add {job.name}.txt, or the preset again, and retry"
            )
        return opening(preset, own)

    def _start_refinement(self) -> None:
        """`NAME.refine.txt`: its turns go to the session of the latest NAME delivered."""
        job = self.job
        path = self.folder.instructions_path(job)
        assert path is not None, "a refinement is its .refine.txt"
        if not job.turns:
            job.turns = [Turn(text=t) for t in split_turns(read_instructions(path))]
        refine.resolve(job, self.ctx.deliveries, self.settings.jobs.refine_days, time.time())
        job.move_to(JobStage.SESSION)
        self.save()
        self.note(
            f"refines {job.refines_result or job.refines} in its session {job.session_id}; "
            f"{len(job.turns)} turn(s), nothing uploaded again; the result is v{job.result_version}"
        )

    async def _upload(self) -> None:
        job = self.job
        if job.kind == "refine":  # its media are in the session already
            job.move_to(JobStage.UPLOADED)
            self.save()
            return
        paths = self.folder.media_paths(job)
        put_back_if_changed(self.folder, job, "after its claim")
        if job.uploads_started:
            # An upload whose answer was never recorded (a crash, a lost answer) may
            # be in the session already: a new session is free, footage twice is not.
            session = await self.client.create_session(self.settings.api.language)
            self.note(
                f"the upload into session {job.session_id} has no recorded answer; "
                f"uploading into a new session {session.session_id} instead"
            )
            job.session_id, job.task_id = session.session_id, session.task_id
        job.uploads_started = list(job.media)  # journaled before the body is sent
        self.save()
        async with self.ctx.uploads:
            sent = await send_media(
                self.client,
                self.session_id(),
                paths,
                progress=lambda done, total: self.progress("upload", done, total),
            )
        put_back_if_changed(self.folder, job, "after upload")  # before any turn is paid
        job.media_sha256 = digests(job, paths, sent.sha256)  # the duplicate guard's key
        job.uploads_started = []
        job.move_to(JobStage.UPLOADED)
        self.save()
        self.note(f"uploaded {sent}")

    async def _export(self) -> None:
        job = self.job
        self._draft = await self._settled_draft()
        job.summary = self._draft.summary()
        job.render_id = self.client.new_render_id()
        job.render_attempts += 1
        job.render_submitted = False
        job.move_to(JobStage.RENDERING)
        self.save()

    async def _settled_draft(self) -> Draft:
        """The draft once ready and unchanged for `state_settle_seconds` (one read if that is 0)."""
        export = self.settings.export
        settle = export.state_settle_seconds
        interval = 1.0 if settle >= 1 else max(settle / 2, 0.05)  # reads a second apart
        deadline = self.ctx.clock() + export.timeout_seconds
        last, since = "", 0.0
        while True:
            state = await self.client.get_state(self.session_id())
            now = self.ctx.clock()
            if state.draft.is_ready_for_export:
                if state.fingerprint() != last:
                    last, since = state.fingerprint(), now
                if now - since >= settle:
                    return state.draft
            else:
                last = ""
            if now > deadline:
                raise EditNotAppliedError("the project never became ready to export")
            await self.ctx.sleep(interval)

    async def _render(self) -> None:
        job = self.job
        assert job.render_id
        # After a restart the id may have been submitted already (that is journaled
        # with the next stage): the service is asked first, and submitted to only
        # when it does not know the id.
        resumed = self._draft is None
        if not job.render_submitted and not (resumed and await self._render_known()):
            await self._submit_render()
        job.render_submitted = True

        def progress(status: object) -> None:
            value = getattr(status, "progress", None)
            if isinstance(value, float):
                self.progress("render", value, 100)

        try:
            self._completed = await wait_for_render(
                self.client,
                job.render_id,
                self.settings.export,
                clock=self.ctx.clock,
                sleep=self.ctx.sleep,
                on_progress=progress,
            )
        except RenderNotFoundError:
            if self._resubmitted:
                raise
            self.note(f"the service no longer knows render {job.render_id}; submitting it")
            self._resubmitted = True
            await self._submit_render()
            return
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
        job.move_to(JobStage.DOWNLOADING)  # journaled with the download's temporary name

    async def _render_known(self) -> bool:
        assert self.job.render_id
        try:
            await self.client.render_status(self.job.render_id)
        except RenderNotFoundError:
            return False
        return True

    async def _submit_render(self) -> None:
        """Submit the journaled render id (export costs no credits; the same id twice
        starts no second render)."""
        job = self.job
        assert job.render_id
        draft = self._draft or (await self.client.get_state(self.session_id())).draft
        await self.client.start_render(
            self.session_id(), draft, job.render_id, self.settings.export
        )
        self.note(f"render {job.render_id} started")
