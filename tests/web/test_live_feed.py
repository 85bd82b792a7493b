"""`GET /api/events`: job events arrive live, keep-alives flow, and stopping ends the stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from nemowatch.jobs import events
from nemowatch.jobs.model import Failure, Job, JobStage
from nemowatch.web.feed import event_data
from nemowatch.web.routes import FEED
from tests.web.webfakes import ZONE, served

NOW = 1_800_000_000.0


def a_job(name: str = "holiday") -> Job:
    return Job(id=f"20270115-080000-{name}-abc123", name=name, kind="pair", media=[f"{name}.mp4"])


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


async def lines(response: httpx.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        yield line


async def next_data(stream: AsyncIterator[str]) -> dict[str, object]:
    async with asyncio.timeout(5):
        async for line in stream:
            if line.startswith("data: "):
                data: dict[str, object] = json.loads(line.removeprefix("data: "))
                return data
    raise AssertionError("the stream ended")


async def until(stream: AsyncIterator[str], wanted: str) -> None:
    async with asyncio.timeout(5):
        async for line in stream:
            if line == wanted:
                return
    raise AssertionError(f"the stream ended before {wanted!r}")


async def test_an_emitted_event_reaches_a_connected_client_live(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        async with http.stream("GET", "/api/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = lines(response)
            await until(stream, ": connected")
            job = a_job()
            api.control.bus.emit(events.StageReached.of(job, stage=JobStage.RENDERING, at=NOW))
            api.control.bus.emit(events.Delivered.of(job, result="/out/holiday.mp4", at=NOW + 1))
            stage = await next_data(stream)
            delivered = await next_data(stream)
    assert stage["event"] == "stage" and stage["stage"] == "rendering"
    assert delivered == {
        "schema": 1,
        "event": "delivered",
        "job": job.id,
        "name": "holiday",
        "result": "/out/holiday.mp4",
        "reason": None,
        "link": f"http://nemo.example/jobs/{job.id}/editor",
        "at": "2027-01-15T08:00:01+00:00",
    }


async def test_keep_alive_comments_flow_while_nothing_happens(state: Path) -> None:
    async with served(state, keepalive=0.05) as api, api.client() as http:
        async with http.stream("GET", "/api/events") as response:
            stream = lines(response)
            await until(stream, ": keep-alive")
            await until(stream, ": keep-alive")


async def test_stop_ends_the_stream_cleanly_within_the_grace(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        async with http.stream("GET", "/api/events") as response:
            stream = lines(response)
            await until(stream, ": connected")
            started = time.monotonic()
            await api.server.stop(1.0)
            took = time.monotonic() - started
            rest = [line async for line in stream]  # ends without an error: a clean end
    assert took < 1.0
    assert all(line == "" for line in rest)
    assert not api.socket.exists()


async def test_a_client_that_left_is_forgotten_at_the_next_write(state: Path) -> None:
    async with served(state) as api:
        feed = api.server.app[FEED]
        async with api.client() as http, http.stream("GET", "/api/events") as response:
            await until(lines(response), ": connected")
            assert feed.clients == 1
        async with asyncio.timeout(5):
            while feed.clients:
                api.control.bus.emit(events.Released.of(a_job()))
                await asyncio.sleep(0.02)


async def test_stop_cuts_a_request_that_outlasts_the_grace(state: Path) -> None:
    async with served(state) as api, api.client() as http:
        api.control.pause_gate = asyncio.Event()  # pause() never returns
        request = asyncio.create_task(http.post("/api/pause"))
        async with asyncio.timeout(5):
            while ("pause",) not in api.control.calls:
                await asyncio.sleep(0.01)
        started = time.monotonic()
        await api.server.stop(1.0)
        took = time.monotonic() - started
        with pytest.raises(httpx.HTTPError):
            await request
    assert took < 1.0


async def test_a_slow_client_loses_events_not_the_daemons_time(state: Path) -> None:
    async with served(state) as api:
        feed = api.server.app[FEED]
        queue = feed.open()
        job = a_job()
        for done in range(1000):  # nobody reads this queue
            feed.handle(events.Progress.of(job, what="upload", done=done, total=1000))
        assert queue.full()
        feed.close()
        assert queue.get_nowait() is not None  # what was queued is still delivered ...
        while (text := queue.get_nowait()) is not None:
            assert text
        assert feed.clients == 0  # ... then the end marker


def test_every_event_has_the_documented_keys() -> None:
    job = a_job()
    job.failure = Failure(message="the video is empty", stage="claimed", advice="Add a video.")
    cases = [
        events.Claimed.of(job),
        events.Progress.of(job, what="upload", done=5, total=10),
        events.TurnAnswered.of(job, index=1, count=2, answer="ok"),
        events.Held.of(job, condition="network", reason="the network is down"),
        events.Waiting.of(job, reason="waiting for the service"),
        events.Released.of(job),
        events.Failed.of(job, stage="claimed", message="the video is empty"),
        events.Cancelled.of(job, stage="rendering"),
        events.Stopped.of(job),
    ]
    names = [event_data(e, "", ZONE)["event"] for e in cases]
    assert names == [
        "claimed",
        "progress",
        "turn",
        "held",
        "waiting",
        "released",
        "failed",
        "cancelled",
        "stopped",
    ]
    for event in cases:
        data = event_data(event, "", ZONE)
        assert {"schema", "event", "job", "name", "result", "reason", "link", "at"} <= data.keys()
        assert data["schema"] == 1 and data["link"] is None
    assert event_data(cases[3], "", ZONE)["reason"] == "the network is down"
    assert event_data(cases[6], "", ZONE)["reason"] == "the video is empty Add a video."
