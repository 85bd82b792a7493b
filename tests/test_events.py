"""The job-event bus: every subscriber gets every event, none can block another."""

from __future__ import annotations

import asyncio

import pytest

from nemowatch.jobs import events
from nemowatch.jobs.model import Job, JobStage


def job() -> Job:
    return Job(id="j1", name="clip", kind="pair", media=["clip.mp4"])


async def test_each_subscriber_gets_every_event_in_order() -> None:
    bus = events.EventBus()
    seen_a: list[events.JobEvent] = []
    seen_b: list[events.JobEvent] = []
    bus.subscribe("a", seen_a.append)
    bus.subscribe("b", seen_b.append)
    bus.start()
    sent = [
        events.StageReached.of(job(), stage=JobStage.SESSION),
        events.Progress.of(job(), what="upload", done=5, total=10),
        events.Delivered.of(job(), result="/out/clip.mp4"),
    ]
    for event in sent:
        bus.emit(event)
    await bus.stop()
    assert seen_a == sent and seen_b == sent


async def test_a_subscriber_may_leave_out_progress() -> None:
    bus = events.EventBus()
    every: list[events.JobEvent] = []
    no_progress: list[events.JobEvent] = []
    bus.subscribe("every", every.append)
    bus.subscribe("no progress", no_progress.append, progress=False)
    bus.start()
    stage = events.StageReached.of(job(), stage=JobStage.SESSION)
    progress = events.Progress.of(job(), what="upload", done=5, total=10)
    for event in (stage, progress):
        bus.emit(event)
    await bus.stop()
    assert every == [stage, progress] and no_progress == [stage]


async def test_a_slow_subscriber_does_not_hold_up_the_emitter_or_the_others() -> None:
    bus = events.EventBus()
    release = asyncio.Event()
    fast: list[events.JobEvent] = []

    async def slow(event: events.JobEvent) -> None:
        await release.wait()

    bus.subscribe("slow", slow, maxsize=2)
    bus.subscribe("fast", fast.append)
    bus.start()
    for i in range(10):
        bus.emit(events.Progress.of(job(), what="upload", done=i, total=10))  # never blocks
    await asyncio.sleep(0.01)
    assert len(fast) == 10
    release.set()
    await bus.stop()


async def test_a_subscriber_that_falls_behind_loses_events_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = events.EventBus()
    got: list[events.JobEvent] = []
    bus.subscribe("history", got.append, maxsize=3)
    for i in range(5):  # not started yet: nothing drains the queue
        bus.emit(events.Progress.of(job(), what="upload", done=i, total=5))
    assert "history falls behind" in caplog.text
    bus.start()
    await bus.stop()
    assert len(got) == 3


async def test_caught_up_waits_for_the_events_offered_so_far() -> None:
    bus = events.EventBus()
    got: list[events.JobEvent] = []

    async def slow(event: events.JobEvent) -> None:
        await asyncio.sleep(0.05)
        got.append(event)

    feed = bus.subscribe("slow", slow)
    await asyncio.wait_for(feed.caught_up(), 1)  # not started: nothing to wait for
    bus.start()
    bus.emit(events.Held.of(job(), condition="credits", reason="no credits"))
    bus.emit(events.Released.of(job()))
    await asyncio.wait_for(feed.caught_up(), 5)
    assert [type(e) for e in got] == [events.Held, events.Released]
    await bus.stop()
    await asyncio.wait_for(feed.caught_up(), 1)  # stopped: at once


async def test_a_failing_subscriber_keeps_its_feed(caplog: pytest.LogCaptureFixture) -> None:
    bus = events.EventBus()
    got: list[events.JobEvent] = []

    def flaky(event: events.JobEvent) -> None:
        if isinstance(event, events.Held):
            raise RuntimeError("boom")
        got.append(event)

    bus.subscribe("flaky", flaky)
    bus.start()
    bus.emit(events.Held.of(job(), condition="credits", reason="no credits"))
    bus.emit(events.Released.of(job()))
    await bus.stop()
    assert [type(e) for e in got] == [events.Released]
    assert "flaky failed on Held" in caplog.text
