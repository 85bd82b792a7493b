"""Batches of inbox events: one per burst gap, never holding back a due deadline."""

from __future__ import annotations

import asyncio
import time

from nemowatch.watch.batches import Batches


async def test_a_burst_comes_as_one_batch_after_the_first() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    batches = Batches(queue, lambda: None, gap=0.2)
    queue.put_nowait(0)
    assert await anext(batches) == [0]  # the first event of a quiet inbox: at once

    async def burst() -> None:
        for i in range(1, 50):
            queue.put_nowait(i)
            await asyncio.sleep(0.001)

    feeder = asyncio.create_task(burst())
    second = await anext(batches)
    await feeder
    rest = [] if queue.empty() else await anext(batches)
    assert second + rest == list(range(1, 50))
    assert len(second) > 10, "the burst was gathered, not handed over one by one"


async def test_an_empty_batch_when_the_deadline_comes() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    due = time.monotonic() + 0.05
    batches = Batches(queue, lambda: due, gap=0.1)
    assert await asyncio.wait_for(anext(batches), 2) == []


async def test_a_due_deadline_is_not_held_back_by_the_gap() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    deadline: list[float | None] = [None]
    batches = Batches(queue, lambda: deadline[0], gap=30.0)
    queue.put_nowait(1)
    assert await anext(batches) == [1]
    queue.put_nowait(2)  # within the 30 s gap, but the inbox is due now
    deadline[0] = time.monotonic()
    assert await asyncio.wait_for(anext(batches), 2) == [2]
