"""Conditions: causes that concern every job, or every job that needs the same thing.

A condition is not a failure. It holds one kind of work (`Work`), keeps every
job where it stands, is probed again on its own schedule and releases the work
by itself. This registry is the one place that knows which conditions are
active, why and since when; jobs record only the name of the condition that
holds them, and `status` reads the reason from here.

    conditions.raise_("credits", "out of credits: top up ...", Work.PAID_TURNS)
    conditions.blocking(Work.PAID_TURNS)    # -> the Condition, or None
    await conditions.wait_clear(Work.PAID_TURNS)
    await conditions.probe()                # ask each active condition's probe
    conditions.release("credits")
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Flag, auto

from nemowatch.redact import redact

log = logging.getLogger("nemowatch")


class Work(Flag):
    """The kinds of work a condition can hold."""

    PAID_TURNS = auto()  # edit turns (they cost credits)
    EXPORTS = auto()  # render submissions
    API_CALLS = auto()  # any other call: sessions, uploads, state reads, polls, downloads
    CLAIMS = auto()  # taking new work from the inbox
    DELIVERIES = auto()  # writing results and moving originals
    #: starting a job's paid turns (its first turn); "budget" and "work hours" hold
    #: only this, so a job already in its turns is never held between them
    FIRST_TURNS = auto()
    API = PAID_TURNS | EXPORTS | API_CALLS  # all API work


@dataclass
class Condition:
    name: str
    holds: Work
    reason: str
    since: float
    #: when the condition is checked again (wall clock), when known
    next_check: float | None = None


#: a probe answers whether its condition has passed
Probe = Callable[[], Awaitable[bool]]


class Conditions:
    """The registry: raise with a reason, probe, release; what each holds.

    Args:
        clock: the wall clock for "since when" (tests hand in a fake one).
        on_change: called after any condition is raised, changed or released.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._listeners: list[Callable[[], None]] = [on_change] if on_change else []
        self._active: dict[str, Condition] = {}
        self._probes: dict[str, Probe] = {}
        self._released = asyncio.Event()

    def listen(self, on_change: Callable[[], None]) -> None:
        """Call `on_change` after any condition is raised, changed or released."""
        self._listeners.append(on_change)

    def set_probe(self, name: str, probe: Probe) -> None:
        """How condition `name` is checked again (the daemon schedules `probe()`)."""
        self._probes[name] = probe

    def raise_(self, name: str, reason: str, holds: Work) -> Condition:
        """Activate condition `name` (or update its reason); "since" stays the first time."""
        reason = redact(reason)  # it may quote the service's message
        current = self._active.get(name)
        if current is not None and current.reason == reason and current.holds == holds:
            return current
        if current is None:
            log.warning("holding %s: %s", _describe(holds), reason)
            current = self._active[name] = Condition(name, holds, reason, self._clock())
        else:
            current.reason, current.holds = reason, holds
        self._changed()
        return current

    def release(self, name: str) -> None:
        condition = self._active.pop(name, None)
        if condition is None:
            return
        log.info("released %s (was: %s)", _describe(condition.holds), condition.reason)
        self._released.set()
        self._released = asyncio.Event()
        self._changed()

    def get(self, name: str) -> Condition | None:
        return self._active.get(name)

    def now(self) -> float:
        """The registry's clock: what `since` and `next_check` are measured on."""
        return self._clock()

    def schedule(self, name: str, when: float | None) -> None:
        """When condition `name` is checked again, for a probe with a schedule of its own."""
        condition = self._active.get(name)
        if condition is not None and condition.next_check != when:
            condition.next_check = when
            self._changed()

    def active(self) -> list[Condition]:
        """The active conditions, oldest first."""
        return sorted(self._active.values(), key=lambda c: c.since)

    def blocking(self, work: Work) -> Condition | None:
        """The oldest active condition that holds any of `work`, if one does."""
        return next((c for c in self.active() if c.holds & work), None)

    async def wait_released(self, name: str) -> None:
        """Return once condition `name` is not active."""
        while name in self._active:
            await self._released.wait()

    async def wait_clear(self, work: Work) -> None:
        """Return once no active condition holds any of `work`."""
        while self.blocking(work) is not None:
            await self._released.wait()

    async def probe(self) -> None:
        """Run the probe of each active condition; release those that have passed."""
        for condition in self.active():
            probe = self._probes.get(condition.name)
            if probe is not None and await probe():
                self.release(condition.name)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()


def _describe(work: Work) -> str:
    if work & Work.API == Work.API:
        return "all API work"
    names = {
        Work.PAID_TURNS: "paid turns",
        Work.EXPORTS: "exports",
        Work.API_CALLS: "API calls",
        Work.CLAIMS: "claims",
        Work.DELIVERIES: "deliveries",
        Work.FIRST_TURNS: "new paid work",
    }
    return ", ".join(text for flag, text in names.items() if flag & work)
