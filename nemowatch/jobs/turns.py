"""The edit turns: each sent at most once, answered or recovered by reading the state.

A turn is journaled as sent before it is sent. A stream that breaks, or a
silent turn, is recovered by reading the project's state until it differs
from the fingerprint taken before the turn; it is never sent again.
"""

from __future__ import annotations

import errno
import os

from nemowatch.api import TurnEvent
from nemowatch.errors import (
    AgentError,
    ApiError,
    EditNotAppliedError,
    OutOfCreditsError,
    RateLimitedError,
    ServerError,
    SessionLostError,
    TokenQuotaError,
    TransportError,
)
from nemowatch.jobs import events
from nemowatch.jobs.context import Context, JobRun
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage, Turn, TurnState
from nemowatch.jobs.results import fitting_stem


class TurnSteps(JobRun):
    """The `uploaded` stage: one turn per step until every turn is answered."""

    _rate_limited = 0

    def __init__(self, folder: JobFolder, job: Job, ctx: Context) -> None:
        super().__init__(folder, job, ctx)
        #: by turn: reads of this run that found the project unchanged after it was sent
        self._unchanged: dict[int, int] = {}

    async def _edit(self) -> None:
        await self._turn()
        job = self.job
        if job.stage is JobStage.EDITED and job.credits_before is not None:
            if job.credits_after is None:
                await self._balance_after()

    async def _turn(self) -> None:
        job = self.job
        index = job.next_turn
        if index is None:
            job.move_to(JobStage.EDITED)
            self.save()
            return
        turn = job.turns[index]
        label = f"turn {index + 1} of {len(job.turns)}"
        if turn.state is TurnState.SENT:
            if index not in self._unchanged:  # not when trying a failed read again
                self.note(
                    f"{label} was sent before a restart; reading the project, not sending again"
                )
            await self._recover(turn, label)
            return
        cost = self.ctx.cost
        if cost is not None and await cost.before_turn(job, first=index == 0, tell=self._waiting):
            return  # "work hours" or "budget" holds its first turn: the pipeline holds the job
        balance = await self._before_paid_step()
        if index == 0:  # what the job costs: the balance now, and after its last turn
            job.credits_before = balance
            if cost is not None:
                cost.started(job, balance)
        turn.fingerprint_before = (await self.client.get_state(self.session_id())).fingerprint()
        turn.move_to(TurnState.SENT)
        self.save()  # journaled before sending: a crash from here on never resends it
        self.note(f"{label} sent")
        try:
            result = await self.client.send_turn(
                self.session_id(), turn.text, on_event=self._turn_event
            )
        except (OutOfCreditsError, RateLimitedError, TokenQuotaError, SessionLostError) as exc:
            turn.move_to(TurnState.PENDING)  # refused before any work was done: not charged
            self.save()
            if (
                isinstance(exc, RateLimitedError)
                and self._rate_limited < self.settings.jobs.retries
            ):
                self._rate_limited += 1
                await self.ctx.sleep(exc.retry_after or self.settings.api.rate_limit_seconds)
                return
            raise
        except (TransportError, ServerError, AgentError) as exc:
            self.note(f"{label}: the stream ended without an answer ({exc}); reading the project")
            turn.interrupted_by = _shorten(str(exc))
            await self._recover(turn, label)
            return
        turn.answer, turn.silent = result.text, result.silent
        if result.silent:
            await self._recover(turn, label, first_wait=0.0)
            return
        turn.move_to(TurnState.ANSWERED)
        self._save_answered(index)
        self.note(f"{label} answered: {_shorten(result.text)}")

    def _save_answered(self, index: int) -> None:
        """Journal an answered turn; after the last one, the stage moves on in the same write."""
        job = self.job
        if job.next_turn is None:
            job.move_to(JobStage.EDITED)
        self.save()
        turn = job.turns[index]
        self.ctx.emit(
            events.TurnAnswered.of(
                job, index=index, count=len(job.turns), answer=turn.answer, verified=turn.verified
            )
        )

    def _turn_event(self, event: TurnEvent) -> None:
        if event.is_progress:
            index = self.job.next_turn
            turn = len(self.job.turns) if index is None else index + 1
            self.progress("edit", 0, 0, turn=turn, turns=len(self.job.turns))

    async def _recover(self, turn: Turn, label: str, first_wait: float | None = None) -> None:
        """Read the state until it differs from before the turn; never send the turn again.

        Only reads that answered count toward `api.recovery_max_checks`: a read
        that failed (the network, a 5xx) leaves through the pipeline's policy,
        which comes back here when the step is tried again (the count kept; after
        a hold, a new run counts anew: more reads, never a turn given up early).
        """
        api = self.settings.api
        first = api.recovery_first_wait_seconds if first_wait is None else first_wait
        index = self.job.turns.index(turn)
        self._unchanged.setdefault(index, 0)
        while (checks := self._unchanged[index]) < api.recovery_max_checks:
            await self.ctx.sleep(first if checks == 0 else api.recovery_wait_seconds)
            state = await self.client.get_state(self.session_id())
            self._unchanged[index] = checks + 1
            if state.fingerprint() != turn.fingerprint_before:
                turn.move_to(TurnState.ANSWERED)
                turn.verified = True
                self._save_answered(self.job.turns.index(turn))
                how = (
                    "silent; the change was verified" if turn.silent else "verified in the project"
                )
                self.note(f"{label} {how}")
                return
        raise EditNotAppliedError(
            f"{label}: the project did not change after {api.recovery_max_checks} checks",
            cause=turn.interrupted_by,
        )

    def _waiting(self, reason: str) -> None:
        if reason:
            self.note(reason)
        self.ctx.emit(events.Waiting.of(self.job, stage=self.job.stage, reason=reason))

    async def _before_paid_step(self) -> float:
        """Check what could fail only after paying; the balance available."""
        self._check_outbox()
        credits = await self.client.credits()
        needed = self.settings.jobs.min_credits
        if credits.available < needed:
            raise OutOfCreditsError(
                f"{credits.available:g} credits available, {needed} needed", code=2001
            )
        return credits.available

    async def _balance_after(self) -> None:
        """After the last turn: the balance again; the difference is what the job cost."""
        job = self.job
        try:
            job.credits_after = (await self.client.credits()).available
        except ApiError as exc:  # the cost stays unknown; the job goes on
            self.note(f"the balance could not be read after the last turn ({exc})")
        if self.ctx.cost is not None:
            self.ctx.cost.finished(job)
        self.save()
        if job.cost_text():
            self.note(f"the turns cost {job.cost_text()}")

    def _check_outbox(self) -> None:
        """What could fail only after paying is checked before: the outbox, the result's name."""
        job, outbox = self.job, self.settings.folders.outbox
        if self.ctx.folder_watch is None:  # `submit`: the outbox is made when missing
            outbox.mkdir(parents=True, exist_ok=True)
        elif job.preset and outbox.parent.is_dir():  # a preset's results folder, made again
            outbox.mkdir(exist_ok=True)
        if not outbox.is_dir():  # the daemon waits for it ("folder missing"), unpaid
            raise FileNotFoundError(errno.ENOENT, "the outbox is missing", str(outbox))
        if not os.access(outbox, os.W_OK | os.X_OK):  # the condition "disk", unpaid
            raise PermissionError(errno.EACCES, "the outbox is not writable", str(outbox))
        if job.result_stem is None:
            job.result_stem = fitting_stem(outbox, job.name)
            if job.result_stem != job.name:
                self.note(f"the name is too long for the outbox: the result is {job.result_stem!r}")
            # journaled with the turn, right after: a crash before finds the same name again


def _shorten(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
