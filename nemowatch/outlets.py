"""The daemon's outlets besides the status board: the history and notifications.

Each subscribes to the job events (and, for notifications, to the conditions)
and never blocks the daemon: the bus gives each a queue and a task of its own.
The daemon builds `Outlets` once, starts it with the bus and stops it within
the stop grace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch.conditions import Conditions
from nemowatch.config import Settings
from nemowatch.jobs.events import EventBus

log = logging.getLogger("nemowatch")


class Outlets:
    """Wires the history and the notifications to the daemon's bus and conditions.

    Args:
        settings: the settings in force (read at each use: a reload changes them).
        bus: the job events.
        conditions: the registry (notifications follow it; the history raises "disk").
        scheduler: the daemon's scheduler, for daily jobs (retention, the summary).
        queued: how many jobs are in line (for `credits_low`).
    """

    def __init__(
        self,
        settings: Callable[[], Settings],
        bus: EventBus,
        conditions: Conditions,
        scheduler: AsyncIOScheduler,
        queued: Callable[[], int],
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._conditions = conditions
        self._scheduler = scheduler
        self._queued = queued
        self._history()
        self._notifications()

    def _history(self) -> None:
        """Subscribe the history database to the job events."""

    def _notifications(self) -> None:
        """Subscribe the notification channels to the job events and conditions."""

    def start(self) -> None:
        """Begin the scheduled work (retention, the daily summary); the daemon is ready."""

    async def stop(self, grace: float) -> None:
        """Let what is being sent finish within `grace` seconds; then give it up."""
