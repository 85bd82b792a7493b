"""The daemon's outlets besides the status board: the history and notifications.

Each subscribes to the job events (and, for notifications, to the conditions)
and never blocks the daemon: the bus gives each a queue and a task of its own.
The daemon builds `Outlets` once, starts it with the bus and stops it within
the stop grace.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch.budget import CostControl
from nemowatch.config import Settings
from nemowatch.disk import DiskWatch
from nemowatch.history import History
from nemowatch.jobs.context import Context
from nemowatch.jobs.events import EventBus
from nemowatch.notify import TICK_SECONDS, Notifier
from nemowatch.scheduling import on_loop
from nemowatch.watch.rules import Waiting

log = logging.getLogger("nemowatch")


class Outlets:
    """Wires the history and the notifications to the daemon's bus and conditions.

    Args:
        ctx: what the pipelines share: the settings in force, the conditions registry.
        bus: the job events.
        scheduler: the daemon's scheduler, for daily jobs (retention, the summary).
        queued: how many jobs are in line (for `credits_low`).
        disk: raises the condition "disk" when the history cannot be written.
    """

    def __init__(
        self,
        ctx: Context,
        bus: EventBus,
        scheduler: AsyncIOScheduler,
        queued: Callable[[], int],
        disk: DiskWatch,
    ) -> None:
        self._ctx = ctx
        self._conditions = ctx.conditions
        self._bus = bus
        self._scheduler = scheduler
        self._queued = queued
        self._disk = disk
        self._history()
        self._notifications()
        # cost control reads the history: the duplicate guard, the budget, work hours
        ctx.cost = CostControl(ctx.conditions, lambda: self._settings().jobs, self.history)
        # an identical job ended
        bus.subscribe("duplicates", ctx.cost.in_flight.handle, progress=False)
        ctx.deliveries = self.history.latest_delivered  # what a refinement continues

    def _settings(self) -> Settings:
        return self._ctx.settings  # read at each use: a reload replaces them

    def _history(self) -> None:
        """Subscribe the history database to the job events."""
        state = self._settings().folders.state_dir
        self.history = History.in_state(state, on_disk_error=self._disk_error)
        self.history.follow(self._bus)

    def _disk_error(self, path: Path, exc: BaseException) -> None:
        """The disk refuses the history's writes: the condition "disk" (its rows wait in
        memory meanwhile, and are written by the next write or prune that succeeds)."""
        error = exc if isinstance(exc, OSError) else OSError(errno.ENOSPC, str(exc))
        self._disk.report(path, error)

    def _prune_history(self) -> None:
        """Retention (`history.keep_days`); it also writes rows that waited for the disk."""
        self.history.prune(self._settings().history.keep_days)

    def _notifications(self) -> None:
        """Subscribe the notification channels to the job events and conditions."""
        self.notifications = Notifier(
            self._settings,
            summary_source=self.history.day_summary,
            queued_cost=lambda: self._queued() * self._settings().jobs.turn_cost_estimate,
        )
        self._bus.subscribe("notifications", self.notifications.handle, progress=False)
        self._conditions.listen(
            lambda: self.notifications.conditions_changed(self._conditions.active())
        )

    def credits_read(self, balance: float) -> None:
        """The balance was read: `credits_low` when it is under the queue's cost."""
        self.notifications.credits(balance)

    def waiting(self, waiting: list[Waiting]) -> None:
        """The inbox's waiting files: one that waits on its user too long is told (files
        held by a condition are not: the condition is told once for all of them)."""
        held = {c.reason for c in self._conditions.active()}
        self.notifications.waiting((w.path.name, w.reason) for w in waiting if w.reason not in held)

    def start(self) -> None:
        """Begin the scheduled work (retention, the daily summary); the daemon is ready."""
        # on the loop: a disk error raises a condition, which only the loop may touch
        self._scheduler.add_job(
            on_loop(self._prune_history),
            "interval",
            hours=24,
            next_run_time=datetime.now(UTC),
            id="history",
        )
        # lasting conditions, the end of the quiet hours, the daily summary (on the loop)
        self._scheduler.add_job(
            self.notifications.tick_async, "interval", seconds=TICK_SECONDS, id="notifications"
        )
        if self._ctx.cost is not None:  # "budget" at midnight, "work hours" when they open
            self._ctx.cost.attach(self._scheduler)

    async def stop(self, grace: float) -> None:
        """Let what is being sent finish within `grace` seconds; then give it up."""
        await self.history.settled()
        self.history.close()
        await self.notifications.stop(grace)
