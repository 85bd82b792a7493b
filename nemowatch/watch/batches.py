"""Batches of inbox events, the way `watchfiles.awatch` yields them.

watchdog hands events over one at a time; copying 1,000 pairs in makes
thousands. Each batch is followed by one look at the whole inbox, so the
batches are at least `gap` apart during a burst: a job that an event makes
ready waits at most `gap` more (the settle wait is seconds). A deadline that
has come (something waiting may be ready by the clock, the watchdog ping) is
never held back: an empty batch is yielded then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: the shortest time between two batches during a burst of events
GAP = 0.1


class Batches(Generic[T]):
    """An async iterator of event lists from `queue` (empty: a deadline came).

    Args:
        queue: where the events arrive (the watcher's thread bridge puts them there).
        deadline: when the next batch is due with or without events (monotonic), or None.
        gap: the shortest time between two batches while events keep coming.
    """

    def __init__(
        self,
        queue: asyncio.Queue[T],
        deadline: Callable[[], float | None],
        *,
        gap: float = GAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self._deadline = deadline
        self._gap = gap
        self._clock = clock
        self._last = -gap

    def __aiter__(self) -> AsyncIterator[list[T]]:
        return self

    async def __anext__(self) -> list[T]:
        deadline = self._deadline()
        batch: list[T] = []
        if self._queue.empty():
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), self._until(deadline)))
            except TimeoutError:
                return self._yield(batch)
        held_until = self._last + self._gap
        if deadline is not None:
            held_until = min(held_until, deadline)
        while (now := self._clock()) < held_until:
            self._drain(batch)
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), held_until - now))
            except TimeoutError:
                break
        self._drain(batch)
        return self._yield(batch)

    def _until(self, deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - self._clock())

    def _drain(self, batch: list[T]) -> None:
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())

    def _yield(self, batch: list[T]) -> list[T]:
        self._last = self._clock()
        return batch
