"""Export: render ids, the submit body, status parsing, one status poll."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import respx
from apifakes import FakeClock, envelope

from nemowatch.api import Draft, NemoClient, RenderState, RenderStatus

SID = "sess-9"
RID = "render_1700000000123"
POLL = f"/api/render/proxy/lambda/{RID}"


def status(state: str, *, progress: float | None = None, url: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"code": 0, "status": state}
    if progress is not None:
        body["progress"] = progress
    if url:
        body["output"] = {"url": url}
    return httpx.Response(200, json=body)


def test_render_ids_are_render_and_13_digits_strictly_increasing(client: NemoClient) -> None:
    ids = [client.new_render_id() for _ in range(500)]
    assert all(re.fullmatch(r"render_\d{13}", i) for i in ids)
    numbers = [int(i.removeprefix("render_")) for i in ids]
    assert all(a < b for a, b in zip(numbers, numbers[1:], strict=False))


async def test_start_render_sends_camel_case_session_id_raw_draft_and_output_settings(
    make_client, server: respx.MockRouter
) -> None:
    client = make_client(export={"format": "mov", "quality": "medium"})
    raw = {"t": [{"tt": 0, "sg": [{"d": 1000, "m": {"name": "a"}}]}], "zz": {"kept": [1, 2]}}
    route = server.post("/api/render/proxy/lambda").respond(200, json=envelope({"id": RID}))
    assert await client.start_render(SID, Draft.parse(raw), RID) == RID
    assert json.loads(route.calls.last.request.content) == {
        "id": RID,
        "sessionId": SID,
        "draft": raw,
        "output": {"format": "mov", "quality": "medium"},
    }


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "status": "completed", "progress": 100, "output": {"url": "https://x/y.mp4"}},
        {
            "code": 0,
            "data": {"status": "completed", "progress": 100, "output": {"url": "https://x/y.mp4"}},
        },
        {
            "code": 0,
            "status": "COMPLETED",
            "data": {"progress": 100.0, "output": {"url": "https://x/y.mp4"}},
        },
        # the older shape an earlier reference of the official skill described
        {
            "code": 0,
            "data": {"status": "completed", "progress": 100, "outputUrl": "https://x/y.mp4"},
        },
        {"code": 0, "status": "completed", "progress": 100, "outputUrl": "https://x/y.mp4"},
    ],
    ids=["top-level", "in-data", "mixed", "outputUrl-in-data", "outputUrl-top-level"],
)
def test_render_status_is_read_from_the_top_level_or_from_data(body: dict[str, Any]) -> None:
    parsed = RenderStatus.parse(RID, body)
    assert parsed == RenderStatus(RID, RenderState.COMPLETED, 100.0, "https://x/y.mp4")


def test_render_status_top_level_wins_over_data() -> None:
    parsed = RenderStatus.parse(RID, {"status": "processing", "data": {"status": "failed"}})
    assert parsed.state is RenderState.PROCESSING


def test_render_status_without_fields_is_unknown_without_progress_or_url() -> None:
    parsed = RenderStatus.parse(RID, {"code": 0, "data": None, "output": {"url": ""}})
    assert (parsed.state, parsed.progress, parsed.url) == (RenderState.UNKNOWN, None, None)


def test_render_status_of_a_new_state_name_is_unknown() -> None:
    assert RenderStatus.parse(RID, {"status": "queued"}).state is RenderState.UNKNOWN


def test_render_status_keeps_the_error_message_of_a_failure() -> None:
    parsed = RenderStatus.parse(RID, {"data": {"status": "failed", "error": "codec"}})
    assert (parsed.state, parsed.message) == (RenderState.FAILED, "codec")


async def test_render_status_is_one_poll_that_reads_the_state_inside_data(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    route = server.get(POLL).mock(
        return_value=httpx.Response(
            200, json=envelope({"status": "processing", "progress": 40, "output": {"url": "/u"}})
        )
    )
    assert await client.render_status(RID) == RenderStatus(RID, RenderState.PROCESSING, 40.0, "/u")
    assert route.call_count == 1
    assert clock.sleeps == []  # the polling cadence is jobs.rendering's, not the client's


async def test_render_status_of_a_failed_render_is_returned_not_raised(
    client: NemoClient, server: respx.MockRouter
) -> None:
    server.get(POLL).mock(
        return_value=httpx.Response(200, json={"status": "failed", "error": "oom"})
    )
    done = await client.render_status(RID)
    assert (done.state, done.message) == (RenderState.FAILED, "oom")
