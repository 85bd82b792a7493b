"""Cost control: the daily credit budget, work hours, the duplicate guard, what jobs cost.

Checked once, just before a job's first turn (`before_turn`), for all its
turns; a job already in its turns is never held between them (the two
conditions hold `Work.FIRST_TURNS` only):

- **duplicate guard**: the same media and instructions delivered lately fail
  the job, unpaid (`nemowatch.jobs.duplicate`);
- **work hours** (`jobs.work_hours`, local time, across midnight if need be):
  outside, the condition "work hours" holds new paid work until the window
  opens; uploads run ahead meanwhile;
- **budget** (`jobs.daily_credit_budget`): the credits spent today (from the
  history, and the jobs in their turns now) plus `jobs.turn_cost_estimate`
  for each of the job's turns must fit; over it, the condition "budget" holds
  new paid work until midnight, or until a reload raises the budget. A history
  started anew today leaves today's spending unknown: the day counts as spent.

Every time is computed from the registry's clock (the daemon's one clock),
with APScheduler's cron triggers in local time, so tests run on a fake clock.
The ledger also keeps when each job's turns ran, so that a job's cost (the
balance before its first turn less the one after its last) is marked
approximate when another job's turns overlapped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch.conditions import Condition, Conditions, Work
from nemowatch.config import JobSettings
from nemowatch.history_schema import Entry
from nemowatch.jobs import duplicate
from nemowatch.jobs.model import Job
from nemowatch.notify.times import as_local, local_zone, next_time, quiet_until

log = logging.getLogger("nemowatch")

BUDGET, HOURS = "budget", "work hours"
#: a job's turns still open after this long are forgotten by the ledger
STALE = 24 * 3600.0
HOLDS = Work.FIRST_TURNS


class CostHistory(Protocol):
    """What cost control reads from the history (`History` is one)."""

    def delivered_like(
        self, digests: Sequence[str], instructions: Sequence[str], preset: str | None, since: float
    ) -> Entry | None: ...

    def spent_since(self, since: float, leave_out: Iterable[str] = ()) -> float: ...

    def started_anew(self) -> float | None: ...

    async def settled(self) -> None:
        """Until the rows of the events so far are written: read after this."""


class CostControl:
    """The budget and work-hours conditions, the duplicate guard, and the paid-turn ledger.

    Args:
        conditions: the registry (and its clock: the daemon's one clock).
        jobs: the `[jobs]` settings in force (read at each use: a reload replaces them).
        history: where deliveries and spending are read (None: no guard, nothing spent).
        zone: the local time zone of the work hours and of midnight.
    """

    def __init__(
        self,
        conditions: Conditions,
        jobs: Callable[[], JobSettings],
        history: CostHistory | None,
        *,
        zone: tzinfo | None = None,
    ) -> None:
        self._conditions = conditions
        self._jobs = jobs
        self._history = history
        #: identical drops in their turns at once: the second waits for the first
        self.in_flight = duplicate.InFlight()
        self._zone = zone or local_zone()
        #: credits counted against the day's budget, by job id: the estimate of a job in
        #: its turns, the known cost of one that finished today
        self._reserved: dict[str, float] = {}
        self._day = self._day_start(conditions.now())
        #: when each job's turns ran (end None: still running), for the cost's accuracy
        self._windows: dict[str, tuple[float, float | None]] = {}
        self._since = conditions.now()
        #: the credits the job held by "budget" needs
        self._need = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduler: AsyncIOScheduler | None = None
        conditions.set_probe(BUDGET, self._budget_passed)
        conditions.set_probe(HOURS, self._hours_passed)

    # -- the hooks of the pipeline ------------------------------------------------

    async def before_turn(
        self, job: Job, *, first: bool, tell: Callable[[str], None] = lambda _: None
    ) -> bool:
        """Before a turn is paid for: True when the job must wait (a condition now holds
        its first turn, or the daemon stops); False to go on. Only the first turn is
        ever held.

        Args:
            tell: says why the job waits for an identical one in its turns ("" after).

        Raises:
            DuplicateJobError: the same drop was delivered lately (first turn only).
        """
        if not first:
            self._reserve_rest(job)  # resumed in its turns (a restart): counted, never held
            return False
        if not await self._refuse_duplicate(job, tell):
            return True  # the daemon stops: the job stops at its checkpoint
        now = self._conditions.now()
        opens = self._closed_until(now)
        if opens is not None:
            window = self._jobs().work_hours
            when = _clock(opens, self._zone, now)
            self._hold(HOURS, f"outside work hours ({window}): paid turns start at {when}", opens)
            return True
        self._reserved.pop(job.id, None)  # back at its first turn: counted anew below
        reason = await self._over_budget(job, now)
        if reason is not None:
            self._hold(BUDGET, reason, self._midnight(now))
            return True
        self._reserved[job.id] = self._estimate(len(job.turns))
        return False

    def started(self, job: Job, balance: float) -> None:
        """The first turn goes out now; `balance` was read just before it."""
        job.credits_before = balance
        self._windows[job.id] = (self._conditions.now(), None)

    def finished(self, job: Job) -> None:
        """The last turn was answered (`job.credits_after` read, when it could be)."""
        now = self._conditions.now()
        start, _ = self._windows.get(job.id, (None, None))
        if start is None:  # its turns began before this daemon did: not all was seen
            job.cost_approximate = True
            start = min(self._since, now)
        else:
            job.cost_approximate = any(
                other != job.id and s < now and (e is None or e > start)
                for other, (s, e) in self._windows.items()
            )
        self._windows[job.id] = (start, now)
        if job.cost is not None:
            self._reserved[job.id] = job.cost
        self._prune_windows()

    # -- the conditions -----------------------------------------------------------

    async def check(self) -> None:
        """Release "budget" and "work hours" when they have passed (scheduled at their
        time; also run by the periodic probe of all conditions and by a reload)."""
        for name, passed in ((BUDGET, self._budget_passed), (HOURS, self._hours_passed)):
            if self._conditions.get(name) is not None and await passed():
                self._conditions.release(name)

    def attach(self, scheduler: AsyncIOScheduler) -> None:
        """Check at the very time a hold ends (the periodic probe of all conditions, every
        `jobs.credit_check_minutes`, checks too)."""
        self._scheduler = scheduler

    def reconfigured(self) -> None:
        """A reload may have raised the budget or moved the work hours: check at once."""
        task = asyncio.get_running_loop().create_task(self.check())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def until(self) -> float | None:
        """When held paid work starts again (the latest of the active holds), if held."""
        times = [c.next_check for c in self._active() if c.next_check is not None]
        return max(times) if times else None

    async def _budget_passed(self) -> bool:
        now = self._conditions.now()
        if self._day_start(now) != self._day:
            return True  # midnight: a new day's budget
        return await self._over_need(self._need, now) is None

    async def _hours_passed(self) -> bool:
        return self._closed_until(self._conditions.now()) is None

    def _hold(self, name: str, reason: str, until: float) -> None:
        self._conditions.raise_(name, reason, HOLDS)
        self._conditions.schedule(name, until)
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            at = datetime.fromtimestamp(until, UTC)
            scheduler.add_job(
                self.check, "date", run_date=at, id=f"cost-{name}", replace_existing=True
            )

    def _active(self) -> list[Condition]:
        return [c for c in self._conditions.active() if c.name in (BUDGET, HOURS)]

    # -- work hours ---------------------------------------------------------------

    def _closed_until(self, now: float) -> float | None:
        """When the work hours open next, if `now` is outside them (None: inside, or none)."""
        window = self._jobs().work_hours
        if not window:
            return None
        start, _, end = window.partition("-")
        local = as_local(now, self._zone)
        if quiet_until(f"{start.strip()}-{end.strip()}", local) is not None:
            return None  # inside the window (it may run across midnight)
        return next_time(start, local).timestamp()

    # -- the budget ---------------------------------------------------------------

    def _estimate(self, turns: int) -> float:
        return float(turns * self._jobs().turn_cost_estimate)

    async def _over_budget(self, job: Job, now: float) -> str | None:
        """Why `job`'s turns do not fit today's budget (None: they do)."""
        self._need = self._estimate(len(job.turns))
        reason = await self._over_need(self._need, now)
        if reason is not None:
            turns = len(job.turns)
            plural = "" if turns == 1 else "s"
            reason += f"; {job.name} needs about {self._need:g} ({turns} turn{plural})"
        return reason

    async def _over_need(self, need: float, now: float) -> str | None:
        """Why `need` more credits do not fit today's budget (None: they do)."""
        budget = self._jobs().daily_credit_budget
        if budget <= 0:
            return None
        midnight = _clock(self._midnight(now), self._zone, now)
        then = f"paid work starts again at {midnight}, or when jobs.daily_credit_budget is raised"
        today = self._day_start(now)
        self._new_day(today)
        if self._history is not None:
            await self._history.settled()
        anew, spent = await asyncio.to_thread(self._read_history, today, list(self._reserved))
        if anew is not None and anew >= today:
            started = _clock(anew, self._zone, now)
            return (
                f"the history was started anew today at {started}, so today's spending is "
                f"unknown: the daily credit budget ({budget}) counts as spent; {then}"
            )
        spent += sum(self._reserved.values())
        if spent + need <= budget:
            return None
        return f"daily credit budget reached: {spent:g} of {budget} credits spent today; {then}"

    def _read_history(self, today: float, counted: list[str]) -> tuple[float | None, float]:
        """(when the history was started anew, what it knows was spent since `today` but
        for the jobs `counted` already); in a worker thread: the database may be slow."""
        history = self._history
        if history is None:
            return None, 0.0
        return history.started_anew(), history.spent_since(today, counted)

    def _new_day(self, today: float) -> None:
        """At a new day, forget what finished jobs spent (the history has it by date)."""
        if today != self._day:
            self._day = today
            running = {job for job, (_, end) in self._windows.items() if end is None}
            self._reserved = {k: v for k, v in self._reserved.items() if k in running}

    def _reserve_rest(self, job: Job) -> None:
        if job.id not in self._reserved:
            left = sum(1 for t in job.turns if t.state.value != "answered")
            self._reserved[job.id] = self._estimate(left)

    def _day_start(self, now: float) -> float:
        local = as_local(now, self._zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()

    def _midnight(self, now: float) -> float:
        return next_time("00:00", as_local(now, self._zone)).timestamp()

    async def _refuse_duplicate(self, job: Job, tell: Callable[[str], None]) -> bool:
        """Fail a duplicate (raises); wait for an identical job in its turns first.
        False when the daemon stops meanwhile."""
        history, days = self._history, self._jobs().duplicate_days
        if history is None or days <= 0:
            return True
        reason = duplicate.exempt(job)
        if reason is not None:
            log.debug("%s: not checked for a duplicate: %s", job.name, reason)
            return True
        if not await self.in_flight.enter(job, tell):
            return False
        now = self._conditions.now()
        await history.settled()  # a delivery of a moment ago is in the history
        await asyncio.to_thread(duplicate.check, job, history.delivered_like, days, now)
        return True

    def _prune_windows(self) -> None:
        """Forget the turns that ended before every running job's began (and a start
        over a day old: a job refused at its first turn and then cancelled)."""
        now = self._conditions.now()
        running = [s for s, e in self._windows.values() if e is None and now - s < STALE]
        oldest = min(running, default=None)
        self._windows = {
            k: (s, e)
            for k, (s, e) in self._windows.items()
            if (e is None and now - s < STALE)
            or (oldest is not None and e is not None and e > oldest)
        }


def _clock(at: float, zone: tzinfo, now: float) -> str:
    """ "22:00" (today), "midnight", "07:00 tomorrow", "22:00 on Mon 12 Jan"."""
    when, today = as_local(at, zone), as_local(now, zone)
    days = (when.date() - today.date()).days
    if days == 1 and when.hour == when.minute == 0:
        return "midnight"
    if days in (0, 1):
        return when.strftime("%H:%M") + (" tomorrow" if days else "")
    return when.strftime("%H:%M on %a %d %b")
