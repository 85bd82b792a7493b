"""The account's conditions (credits, plan, token, quota) and their probe.

One balance read serves them all: it refreshes the credits `status` shows,
releases "credits" once the balance is back over `jobs.min_credits`, and lets
jobs held by the plan or the token try again (the next attempt tells whether
the cause has passed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch.api import NemoClient
from nemowatch.conditions import Conditions, Probe
from nemowatch.config import JobSettings
from nemowatch.errors import ApiError
from nemowatch.jobs.policy import ACCOUNT_CONDITIONS

log = logging.getLogger("nemowatch")
JOB_ID = "account"


class Account:
    """Reads the balance for `status` and probes the account conditions."""

    def __init__(
        self,
        client: NemoClient,
        conditions: Conditions,
        jobs: Callable[[], JobSettings],
        on_credits: Callable[[float], None] | None = None,
    ) -> None:
        self._client = client
        self._jobs = jobs
        self._on_credits = on_credits
        self._read_this_round: float | None = None
        self._scheduler: AsyncIOScheduler | None = None
        for name, _ in ACCOUNT_CONDITIONS.values():
            conditions.set_probe(name, self._probe_for(name))
        self._conditions = conditions

    def schedule(self, scheduler: AsyncIOScheduler, seconds: float) -> None:
        """Run `check` now and every `seconds` after (again after a reload changed it):
        `status` shows the balance from the start."""
        if scheduler.get_job(JOB_ID) is None:
            first = datetime.now(UTC)
            scheduler.add_job(
                self.check, "interval", seconds=seconds, id=JOB_ID, next_run_time=first
            )
        else:
            scheduler.reschedule_job(JOB_ID, trigger="interval", seconds=seconds)
        self._scheduler = scheduler

    def next_check(self) -> float | None:
        """When `check` runs next (wall clock), once scheduled and running."""
        scheduler = self._scheduler
        job = scheduler.get_job(JOB_ID) if scheduler and scheduler.running else None
        return job.next_run_time.timestamp() if job and job.next_run_time else None

    async def check(self) -> None:
        """The periodic check: refresh the balance, then probe what is held."""
        self._read_this_round = await self.refresh()
        try:
            await self._conditions.probe()
        finally:
            self._read_this_round = None

    async def refresh(self) -> float | None:
        try:
            available = (await self._client.credits()).available
        except ApiError as exc:
            log.warning("credit check failed: %s", exc)
            return None
        if self._on_credits is not None:
            self._on_credits(available)
        return available

    def _probe_for(self, name: str) -> Probe:
        async def probe() -> bool:
            available = self._read_this_round
            if available is None:
                available = await self.refresh()
            if available is None:
                return False  # the balance could not be read: nothing is known
            if name == "credits" and available < self._jobs().min_credits:
                log.info("still out of credits (%g available)", available)
                return False
            return True

        return probe
