"""A fake monotonic clock for in-process tests of code that waits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class FakeClock:
    """A monotonic clock that moves only when the fake sleep is awaited.

    `sleeps` records every wait asked for; each sleep is still a point where
    other tasks run, as a real one is.
    """

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
