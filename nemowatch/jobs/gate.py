"""The pause gate: one switch that holds all paid work while the account can't pay.

Jobs wait at the gate before each paid step (an edit turn, an export); a
condition of the account closes it, the daemon's periodic check opens it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nemowatch.errors import ApiError

log = logging.getLogger("nemowatch")


class PauseGate:
    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.reason: str | None = None
        self.cause: type[ApiError] | None = None
        self.since: float | None = None
        self.next_check: float | None = None

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    def pause(self, reason: str, cause: ApiError) -> None:
        if not self.paused or reason != self.reason:
            log.warning("pausing all paid work: %s", reason)
        self.reason, self.cause = reason, type(cause)
        self.since = self.since or time.time()
        self._open.clear()

    def resume(self) -> None:
        if self.paused:
            log.info("resuming paid work (was: %s)", self.reason)
        self.reason = self.cause = self.since = self.next_check = None
        self._open.set()

    async def wait_open(self) -> None:
        await self._open.wait()
