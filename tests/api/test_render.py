"""Export: render ids, the submit body, status parsing, and polling on a fake clock."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import respx
from apifakes import FakeClock, envelope

from nemowatch.api import Draft, NemoClient, RenderState, RenderStatus
from nemowatch.errors import RenderFailedError, RenderTimeoutError

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
    ],
    ids=["top-level", "in-data", "mixed"],
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


async def test_wait_for_render_polls_with_growing_intervals_until_completed(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    route = server.get(POLL).mock(
        side_effect=[status("pending")] * 2
        + [status("processing")] * 3
        + [status("completed", url="https://cdn/x.mp4")]
    )
    seen: list[RenderState] = []
    done = await client.wait_for_render(RID, on_progress=lambda s: seen.append(s.state))
    assert done.url == "https://cdn/x.mp4"
    assert clock.sleeps == [2, 3, 4.5, 5, 5]  # poll_first 2, x1.5, capped at poll_max 5
    assert route.call_count == 6
    assert seen[-1] is RenderState.COMPLETED
    assert len(seen) == 6


async def test_wait_for_render_reads_status_inside_data(
    client: NemoClient, server: respx.MockRouter
) -> None:
    server.get(POLL).mock(
        side_effect=[
            httpx.Response(200, json=envelope({"status": "processing", "progress": 40})),
            httpx.Response(200, json=envelope({"status": "completed", "output": {"url": "/u"}})),
        ]
    )
    assert (await client.wait_for_render(RID)).url == "/u"


async def test_wait_for_render_raises_render_failed_on_failed(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    server.get(POLL).mock(
        side_effect=[
            status("processing"),
            httpx.Response(200, json={"status": "failed", "error": "oom"}),
        ]
    )
    with pytest.raises(RenderFailedError, match="oom"):
        await client.wait_for_render(RID)
    assert clock.sleeps == [2]


async def test_wait_for_render_times_out_after_export_timeout_seconds(
    make_client, server: respx.MockRouter, clock: FakeClock
) -> None:
    client = make_client(export={"timeout_seconds": 10})
    route = server.get(POLL).mock(return_value=status("processing"))
    started = clock.now
    with pytest.raises(RenderTimeoutError):
        await client.wait_for_render(RID)
    assert clock.sleeps == [2, 3, 4.5, 0.5]  # the last wait ends exactly at the limit
    assert clock.now - started == 10
    assert route.call_count == 5


async def test_wait_for_render_does_not_wait_past_the_estimated_completion(
    make_client, server: respx.MockRouter, clock: FakeClock
) -> None:
    client = make_client(export={"poll_first_seconds": 1, "poll_max_seconds": 60})
    server.get(POLL).mock(
        side_effect=[status("pending")] * 3
        + [status("processing", progress=95)]
        + [status("completed")]
    )
    await client.wait_for_render(RID)
    # without progress the fourth wait would be 3.375 s; 95 % after 4.75 s means 0.25 s
    # left: half of that is under the floor of 0.5 s
    assert clock.sleeps == [1, 1.5, 2.25, 0.5]


async def test_wait_for_render_closes_in_on_the_predicted_completion(
    make_client, server: respx.MockRouter, clock: FakeClock
) -> None:
    client = make_client(export={"poll_first_seconds": 1, "poll_max_seconds": 60})
    server.get(POLL).mock(
        side_effect=[status("pending")] * 3
        + [status("processing", progress=50)]
        + [status("completed")]
    )
    await client.wait_for_render(RID)
    # 50 % after 4.75 s predicts 4.75 s more: the next poll comes after half of that
    assert clock.sleeps == [1, 1.5, 2.25, 2.375]


async def test_wait_for_render_keeps_polling_an_unknown_state(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.get(POLL).mock(
        side_effect=[status("queued"), status("rendering"), status("completed")]
    )
    assert (await client.wait_for_render(RID)).state is RenderState.COMPLETED
    assert route.call_count == 3
