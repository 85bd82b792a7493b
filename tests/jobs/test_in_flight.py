"""Identical drops in their turns at once: the second waits for the first (in-process)."""

from __future__ import annotations

import asyncio

import pytest

from nemowatch.errors import DuplicateJobError
from nemowatch.jobs import events
from nemowatch.jobs.duplicate import InFlight
from nemowatch.jobs.model import Job, Turn


def job(name: str, text: str = "Trim it") -> Job:
    return Job(
        id=f"id-{name}",
        name=name,
        kind="pair",
        media=["a.mp4"],
        media_sha256={"a.mp4": "abc"},
        turns=[Turn(text=text)],
    )


async def second_after(end: events.JobEvent) -> tuple[asyncio.Task[bool], list[str]]:
    flight, told = InFlight(), []
    assert await flight.enter(job("one"), told.append)
    waiting = asyncio.create_task(flight.enter(job("two"), told.append))
    await asyncio.sleep(0.01)
    assert not waiting.done() and "being edited as one" in told[0]
    flight.handle(end)
    await asyncio.sleep(0.01)
    return waiting, told


async def test_the_second_fails_when_the_first_was_delivered() -> None:
    waiting, told = await second_after(events.Delivered("id-one", "one", result="/out/one.mp4"))
    with pytest.raises(DuplicateJobError, match="already delivered as one.mp4"):
        await waiting
    assert told[-1] == ""


async def test_the_second_goes_on_when_the_first_failed() -> None:
    waiting, _ = await second_after(events.Failed("id-one", "one", message="no"))
    assert await waiting is True


async def test_the_second_stops_when_the_first_stopped_for_shutdown() -> None:
    waiting, _ = await second_after(events.Stopped("id-one", "one"))
    assert await waiting is False


async def test_different_instructions_do_not_wait() -> None:
    flight = InFlight()
    assert await flight.enter(job("one"), lambda _: None)
    assert await asyncio.wait_for(flight.enter(job("two", "Other"), lambda _: None), 1)
