"""Transient faults: the network, which holds every job, or a fault of one job's own.

After a step's own retries (the client's `RetryPolicy`), a transient fault
means one of two things, told apart by one probe call (the balance, not
retried):

- the probe fails too (no connection, a timeout, a 5xx): the network, or the
  whole service, is away. The condition "network" holds all API work; every
  job waits where it stands; `NetworkWatch` probes with backoff (5 s growing
  to 60 s) and releases the work once the service answers. A job fails for
  the network only once it was away `jobs.network_give_up_minutes` (0: never).
- the probe answers: the fault is the job's own (one endpoint failing, one
  call timing out). `Patience` tries that step again every
  `api.retry_max_seconds`, shown as the job's status line, and fails the job
  at that safe step after `jobs.transient_give_up_minutes`.

Neither ever repeats a paid call: a turn whose stream broke is recovered by
reading the project (`jobs.turns`), whatever happened meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nemowatch.api import NemoClient
from nemowatch.conditions import Condition, Conditions, Work
from nemowatch.config import JobSettings
from nemowatch.errors import ApiError, TransportError
from nemowatch.jobs import events
from nemowatch.jobs.context import JobRun

log = logging.getLogger("nemowatch")

NETWORK = "network"
#: the network probe's first wait and longest wait (seconds); it doubles in between
FIRST_PROBE = 5.0
LONGEST_PROBE = 60.0
#: the shortest wait between two tries of a job's own failing step
MIN_WAIT = 0.05


def raise_network(conditions: Conditions, exc: ApiError) -> Condition:
    """Raise "network" (or give it the last error): all API work waits for it."""
    current = conditions.get(NETWORK)
    since = current.since if current else conditions.now()
    reason = f"waiting for the network since {_hhmm(since)} (last error: {_short(exc)})"
    return conditions.raise_(NETWORK, reason, Work.API)


def give_up_in(conditions: Conditions, jobs: JobSettings) -> float | None:
    """Seconds until the jobs held by the network fail for it; None: not held, or never."""
    condition = conditions.get(NETWORK)
    limit = jobs.network_give_up_minutes * 60
    if condition is None or limit <= 0:
        return None
    return max(0.0, condition.since + limit - conditions.now())


class Patience:
    """How one pipeline run rides out transient faults (one `Patience` per run)."""

    def __init__(self, run: JobRun) -> None:
        self._run = run
        #: when the job's own fault began: the context's clock, and the wall clock
        self._since: tuple[float, float] | None = None

    async def ride_out(self, exc: ApiError) -> Condition | bool:
        """What a transient fault that outlasted the step's retries means for the job.

        Returns:
            the condition "network", to hold the job on; True once the job
            waited and the step is to be tried again; False when it gave up
            (the job fails with `exc`, at that safe step).
        """
        ctx = self._run.ctx
        if ctx.conditions.get(NETWORK) is not None or not await ctx.client.reachable():
            return raise_network(ctx.conditions, exc)
        now = ctx.clock()
        if self._since is None:
            self._since = (now, time.time())
        waited = now - self._since[0]
        if waited >= ctx.settings.jobs.transient_give_up_minutes * 60:
            if waited:
                self._run.note(f"gave up after {waited / 60:.0f} minute(s) of: {_short(exc)}")
            return False
        every = max(ctx.settings.api.retry_max_seconds, MIN_WAIT)
        reason = (
            f"waiting for the service since {_hhmm(self._since[1])} ({_short(exc)}); "
            f"trying again every {every:g} s"
        )
        if not waited:
            self._run.note(reason)
        job = self._run.job
        ctx.emit(events.Waiting.of(job, stage=job.stage, reason=reason))
        await self._pause(every)
        return True

    def went_through(self) -> None:
        """A step succeeded: the job's own fault, if there was one, is over."""
        if self._since is None:
            return
        self._since = None
        job = self._run.job
        self._run.note("the service answers again")
        self._run.ctx.emit(events.Waiting.of(job, stage=job.stage, reason=""))

    def gone_too_long(self, condition: Condition) -> TransportError | None:
        """The error to fail the job with, once the network stayed away too long."""
        ctx = self._run.ctx
        if condition.name != NETWORK or give_up_in(ctx.conditions, ctx.settings.jobs) != 0:
            return None
        minutes = ctx.settings.jobs.network_give_up_minutes
        return TransportError(
            f"NemoVideo could not be reached for {minutes:g} minute(s) "
            f"(jobs.network_give_up_minutes): {condition.reason}"
        )

    async def _pause(self, seconds: float) -> None:
        """`seconds` on the context's clock, cut short when the daemon stops."""
        ctx = self._run.ctx
        sleep = asyncio.ensure_future(ctx.sleep(seconds))
        stop = asyncio.ensure_future(ctx.stopping.wait())
        try:
            await asyncio.wait({sleep, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, stop):
                task.cancel()
            await asyncio.gather(sleep, stop, return_exceptions=True)


class NetworkWatch:
    """Probes the service while "network" is active, and releases it once it answers.

    Args:
        client: whose `reachable()` is the probe (also registered with the
            registry, so `resume` and the account's checks probe it too).
        conditions: the registry.
        stopping: set when the daemon stops; the probing ends with it.
        first: the first wait before a probe; it doubles up to `longest`.
    """

    def __init__(
        self,
        client: NemoClient,
        conditions: Conditions,
        stopping: asyncio.Event,
        *,
        first: float = FIRST_PROBE,
        longest: float = LONGEST_PROBE,
    ) -> None:
        self._client = client
        self._conditions = conditions
        self._stopping = stopping
        self._first, self._longest = first, longest
        self._task: asyncio.Task[None] | None = None
        conditions.set_probe(NETWORK, client.reachable)

    def watch(self) -> None:
        """Probe on the backoff schedule until "network" is released (one loop at a time)."""
        if self._stopping.is_set() or self._conditions.get(NETWORK) is None:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._probe_until_back(), name="network-probe")

    async def stop(self) -> None:
        """End the probing (at shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _probe_until_back(self) -> None:
        conditions, delay, tries = self._conditions, self._first, 0
        while (condition := conditions.get(NETWORK)) is not None:
            conditions.schedule(NETWORK, conditions.now() + delay)
            if await self._stopped_within(delay) or conditions.get(NETWORK) is None:
                return  # stopping, or released meanwhile (`resume`, the account's check)
            tries += 1
            if await self._client.reachable():
                away = conditions.now() - condition.since
                log.info("NemoVideo answers again (after %.0f s, %d probe(s))", away, tries)
                conditions.release(NETWORK)
                return
            log.debug("NemoVideo still cannot be reached (probe %d)", tries)
            delay = min(delay * 2, self._longest)

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True


def _hhmm(when: float) -> str:
    return time.strftime("%H:%M", time.localtime(when))


def _short(exc: BaseException, limit: int = 120) -> str:
    flat = " ".join(str(exc).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
