"""The edit turn over SSE: event parsing, what the agent said, errors, the idle limit."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from apifakes import ANON_TOKEN, FakeClock, envelope, sse_response
from httpx_sse import ServerSentEvent

from nemowatch.api import EventKind, NemoClient, TurnEvent
from nemowatch.api.sse import TurnText, parse_event
from nemowatch.errors import (
    AgentError,
    FileTooLargeError,
    OutOfCreditsError,
    RateLimitedError,
    ServerError,
    SessionLostError,
    StreamIdleError,
    TokenError,
    TokenQuotaError,
    TransportError,
)

RUN = "/run_sse"
SID = "sess-42"


def adk(*parts: dict[str, Any], partial: bool = False, **extra: Any) -> dict[str, Any]:
    """An event of the Agent Development Kit's shape."""
    return {
        "content": {"role": "model", "parts": list(parts)},
        "author": "nemo_agent",
        "partial": partial,
        "id": "ev-1",
        "invocationId": "inv-1",
        "timestamp": 1_700_000_000.5,
    } | extra


def text(value: str, *, partial: bool = False) -> dict[str, Any]:
    return adk({"text": value}, partial=partial)


def call(name: str) -> dict[str, Any]:
    return adk({"functionCall": {"name": name, "args": {"x": 1}}})


def result(name: str) -> dict[str, Any]:
    return adk({"functionResponse": {"name": name, "response": {"ok": True}}})


@pytest.fixture
def run_route(server: respx.MockRouter) -> respx.Route:
    return server.post(RUN)


async def turn(client: NemoClient, route: respx.Route, *events: dict[str, Any] | str) -> Any:
    route.mock(return_value=sse_response(*events))
    return await client.send_turn(SID, "make it shorter")


# -- heartbeats ---------------------------------------------------------------


async def test_every_heartbeat_format_is_accepted_and_counted(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(
        client,
        run_route,
        ": ping\n\n",  # a comment before any id: no event at all
        "event: heartbeat\ndata: \n\n",
        {"type": "heartbeat"},
        "data:\n\n",
        "event: ping\ndata: {}\n\n",
        text("Done."),
    )
    assert outcome.text == "Done."
    assert outcome.heartbeats == 4
    assert outcome.events == 5
    assert not outcome.silent


async def test_comment_line_after_an_id_is_a_heartbeat(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(
        client,
        run_route,
        f"id: 1\ndata: {json.dumps(text('Working on it.'))}\n\n",
        ": ping\n\n",
        ": ping\n\n",
        "id: 2\ndata:\n\n",
    )
    assert outcome.text == "Working on it."
    assert outcome.heartbeats == 3


# -- what the agent said ----------------------------------------------------------


async def test_partial_chunks_followed_by_the_final_text_give_the_text_once(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(
        client,
        run_route,
        text("I trimmed ", partial=True),
        text("the clip.", partial=True),
        text("I trimmed the clip."),
    )
    assert outcome.text == "I trimmed the clip."


async def test_partial_chunks_without_a_final_text_are_joined(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(
        client,
        run_route,
        text("Added ", partial=True),
        text("music ", partial=True),
        text("and a title.", partial=True),
    )
    assert outcome.text == "Added music and a title."


async def test_several_final_messages_are_kept_in_order(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(client, run_route, text("First."), call("trim"), text("Second."))
    assert outcome.text == "First.\n\nSecond."


async def test_tool_only_turn_is_silent_with_its_tool_calls_recorded(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(
        client, run_route, call("trim_clip"), result("trim_clip"), call("add_bgm"), "data:\n\n"
    )
    assert outcome.text == ""
    assert outcome.silent
    assert outcome.tool_calls == ("trim_clip", "add_bgm")


async def test_gui_phrases_are_kept_as_text(client: NemoClient, run_route: respx.Route) -> None:
    said = "Done! Click Export in the top right, then drag the clip to the panel."
    outcome = await turn(client, run_route, text(said))
    assert outcome.text == said


async def test_trailing_temporary_issue_after_normal_text_is_dropped(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(
        client,
        run_route,
        text("I added a title."),
        text("I encountered a temporary issue. Please try again."),
    )
    assert outcome.text == "I added a title."


async def test_temporary_issue_in_the_same_message_after_normal_text_is_dropped(
    client: NemoClient, run_route: respx.Route
) -> None:
    outcome = await turn(
        client, run_route, text("I added a title. I encountered a temporary issue, sorry.")
    )
    assert outcome.text == "I added a title."


async def test_temporary_issue_as_the_only_text_is_kept(
    client: NemoClient, run_route: respx.Route
) -> None:
    said = "I encountered a temporary issue. Please try again later."
    outcome = await turn(client, run_route, text(said))
    assert outcome.text == said


async def test_thought_parts_are_ignored(client: NemoClient, run_route: respx.Route) -> None:
    outcome = await turn(
        client,
        run_route,
        adk({"text": "The user wants a shorter clip...", "thought": True}, {"text": "Shortened."}),
    )
    assert outcome.text == "Shortened."


async def test_on_event_sees_every_typed_event(client: NemoClient, run_route: respx.Route) -> None:
    seen: list[TurnEvent] = []
    run_route.mock(return_value=sse_response("data:\n\n", call("trim"), result("trim"), text("Ok")))
    await client.send_turn(SID, "trim", on_event=seen.append)
    assert [e.kind for e in seen] == [
        EventKind.HEARTBEAT,
        EventKind.TOOL_CALL,
        EventKind.TOOL_RESULT,
        EventKind.TEXT,
    ]
    assert seen[1].name == "trim"


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"errorCode": "2001", "errorMessage": "no credits"}, OutOfCreditsError),
        ({"error_code": 4002, "error_message": "too big"}, FileTooLargeError),
        ({"error": {"code": 1002, "message": "session expired"}}, SessionLostError),
        ({"error": {"code": "2001", "message": "balance"}}, OutOfCreditsError),
    ],
)
async def test_error_payload_with_a_numeric_code_raises_its_error(
    client: NemoClient, run_route: respx.Route, payload: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        await turn(client, run_route, text("Starting."), payload, text("never read"))
    assert info.value.endpoint == "run_sse"  # type: ignore[attr-defined]


async def test_error_payload_with_a_non_numeric_code_is_an_agent_error(
    client: NemoClient, run_route: respx.Route
) -> None:
    with pytest.raises(AgentError) as info:
        await turn(client, run_route, {"errorCode": "MALFORMED_FUNCTION_CALL", "errorMessage": "x"})
    assert info.value.code_text == "MALFORMED_FUNCTION_CALL"
    assert "MALFORMED_FUNCTION_CALL" in str(info.value)


async def test_error_payload_with_a_message_only_is_an_agent_error(
    client: NemoClient, run_route: respx.Route
) -> None:
    with pytest.raises(AgentError, match="model overloaded"):
        await turn(client, run_route, {"error": "model overloaded"})


async def test_json_envelope_instead_of_a_stream_raises_its_code(
    client: NemoClient, run_route: respx.Route
) -> None:
    run_route.mock(return_value=httpx.Response(200, json=envelope(code=2001, message="credits")))
    with pytest.raises(OutOfCreditsError):
        await client.send_turn(SID, "edit")
    assert run_route.call_count == 1


async def test_successful_json_instead_of_a_stream_is_a_transport_error(
    client: NemoClient, run_route: respx.Route
) -> None:
    run_route.mock(return_value=httpx.Response(200, json=envelope({"ok": True})))
    with pytest.raises(TransportError, match="not an event stream"):
        await client.send_turn(SID, "edit")


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, ServerError), (502, ServerError), (503, ServerError), (429, RateLimitedError)],
)
async def test_http_error_on_run_sse_is_not_retried(
    client: NemoClient, run_route: respx.Route, clock: FakeClock, status: int, error: type
) -> None:
    run_route.mock(return_value=httpx.Response(status))
    with pytest.raises(error):
        await client.send_turn(SID, "edit")
    assert run_route.call_count == 1
    assert clock.sleeps == []


async def test_connection_error_on_run_sse_is_not_retried(
    client: NemoClient, run_route: respx.Route
) -> None:
    run_route.mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError):
        await client.send_turn(SID, "edit")
    assert run_route.call_count == 1


async def test_stream_cut_midway_is_a_transport_error_and_not_resent(
    client: NemoClient, run_route: respx.Route
) -> None:
    async def cut() -> Any:
        yield f"data: {json.dumps(text('Working', partial=True))}\n\n".encode()
        raise httpx.RemoteProtocolError("peer closed connection")

    run_route.mock(
        side_effect=lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=cut()
        )
    )
    with pytest.raises(TransportError):
        await client.send_turn(SID, "edit")
    assert run_route.call_count == 1


async def test_token_error_on_run_sse_renews_once_and_repeats_once(
    client: NemoClient, anon: respx.Route, run_route: respx.Route
) -> None:
    anon.mock(
        side_effect=[
            httpx.Response(200, json=envelope({"token": "nmv_usr_old000001"})),
            httpx.Response(200, json=envelope({"token": "nmv_usr_new000002"})),
        ]
    )
    run_route.mock(
        side_effect=[httpx.Response(401, json=envelope(code=1001)), sse_response(text("Done."))]
    )
    outcome = await client.send_turn(SID, "edit")
    assert outcome.text == "Done."
    assert anon.call_count == 2
    assert [c.request.headers["Authorization"] for c in run_route.calls] == [
        "Bearer nmv_usr_old000001",
        "Bearer nmv_usr_new000002",
    ]
    assert run_route.calls[0].request.content == run_route.calls[1].request.content


async def test_second_token_error_on_run_sse_raises(
    client: NemoClient, anon: respx.Route, run_route: respx.Route
) -> None:
    run_route.mock(return_value=httpx.Response(200, json=envelope(code=1001)))
    with pytest.raises(TokenError):
        await client.send_turn(SID, "edit")
    assert run_route.call_count == 2
    assert anon.call_count == 2


async def test_quota_spent_when_renewing_for_run_sse_is_raised_as_is_and_nothing_resent(
    client: NemoClient, anon: respx.Route, run_route: respx.Route
) -> None:
    # The turn was refused before any work (1001): a caller may send it again later.
    anon.mock(
        side_effect=[
            httpx.Response(200, json=envelope({"token": "nmv_usr_old000001"})),
            httpx.Response(429, headers={"Retry-After": "60"}),
        ]
    )
    run_route.mock(return_value=httpx.Response(401, json=envelope(code=1001)))
    with pytest.raises(TokenQuotaError) as info:
        await client.send_turn(SID, "edit")
    assert not isinstance(info.value, RateLimitedError)
    assert run_route.call_count == 1
    assert anon.call_count == 2


async def test_request_body_is_the_documented_snake_case_shape(
    client: NemoClient, run_route: respx.Route
) -> None:
    await turn(client, run_route, text("ok"))
    request = run_route.calls.last.request
    assert json.loads(request.content) == {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": SID,
        "new_message": {"parts": [{"text": "make it shorter"}]},
    }
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {ANON_TOKEN}"
    assert request.headers["X-Skill-Source"] == "nemowatch"


# -- the idle limit ------------------------------------------------------------------


class PacedStream:
    """A stream body that produces one chunk every `interval` seconds, as a server would."""

    def __init__(self, chunk: Callable[[int], bytes], interval: float, count: int | None) -> None:
        self._chunk = chunk
        self._interval = interval
        self._count = count
        self._sent = 0

    def __aiter__(self) -> PacedStream:
        return self

    async def __anext__(self) -> bytes:
        if self._count is not None and self._sent >= self._count:
            raise StopAsyncIteration
        await asyncio.sleep(self._interval)
        self._sent += 1
        return self._chunk(self._sent)


def paced(stream: PacedStream) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=stream
    )


HEARTBEATS = b': ping\n\nevent: heartbeat\ndata: \n\ndata: {"type": "heartbeat"}\n\n'


async def test_heartbeats_only_past_the_idle_limit_raise_stream_idle(
    make_client, run_route: respx.Route
) -> None:
    client = make_client(api={"sse_idle_timeout_seconds": 0.3}, real_clock=True)
    stream = PacedStream(lambda n: HEARTBEATS, interval=0.05, count=None)
    run_route.mock(side_effect=paced(stream))
    started = time.monotonic()
    with pytest.raises(StreamIdleError):
        await asyncio.wait_for(client.send_turn(SID, "edit"), timeout=5)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 2.0
    assert run_route.call_count == 1


async def test_silence_past_the_idle_limit_raises_stream_idle(
    make_client, run_route: respx.Route
) -> None:
    client = make_client(api={"sse_idle_timeout_seconds": 0.2}, real_clock=True)
    stream = PacedStream(lambda n: b"data:\n\n", interval=30, count=None)
    run_route.mock(side_effect=paced(stream))
    with pytest.raises(StreamIdleError):
        await asyncio.wait_for(client.send_turn(SID, "edit"), timeout=5)


async def test_progress_events_keep_a_long_turn_alive(make_client, run_route: respx.Route) -> None:
    # an idle limit of 1 s and an event every 0.1 s: a loaded machine (the suite runs in
    # six processes on two cores) may delay one, never by most of a second
    client = make_client(api={"sse_idle_timeout_seconds": 1.0}, real_clock=True)

    def chunk(n: int) -> bytes:
        if n == 24:
            return f"data: {json.dumps(text('All done.'))}\n\n".encode()
        if n % 4 == 0:
            return f"data: {json.dumps(call(f'step{n}'))}\n\n".encode()
        return HEARTBEATS

    # 24 chunks at 0.1 s: 2.4 s in all, more than twice the idle limit
    run_route.mock(side_effect=paced(PacedStream(chunk, interval=0.1, count=24)))
    outcome = await asyncio.wait_for(client.send_turn(SID, "edit"), timeout=10)
    assert outcome.text == "All done."
    assert outcome.tool_calls == ("step4", "step8", "step12", "step16", "step20")
    assert outcome.heartbeats == 2 * 18  # the comment line, before any id, is no event


# -- parse_event and TurnText directly --------------------------------------------------


def sse(data: str = "", event: str = "message") -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data)


@pytest.mark.parametrize(
    "event",
    [
        sse(""),
        sse("   "),
        sse("", event="heartbeat"),
        sse("{}", event="keepalive"),
        sse('{"type": "HEARTBEAT"}'),
        sse('{"type": "ping"}'),
        sse('{"heartbeat": true}'),
    ],
)
def test_parse_event_recognises_heartbeats(event: ServerSentEvent) -> None:
    assert [e.kind for e in parse_event(event)] == [EventKind.HEARTBEAT]


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '"text"', '{"author": "x"}'])
def test_parse_event_of_unreadable_or_empty_events_is_other(data: str) -> None:
    events = parse_event(sse(data))
    assert [e.kind for e in events] == [EventKind.OTHER]
    assert not events[0].is_progress


def test_parse_event_splits_an_event_with_several_parts() -> None:
    payload = adk(
        {"text": "Trimming."},
        {"functionCall": {"name": "trim"}},
        {"function_response": {"name": "trim"}},
        partial=True,
    )
    events = parse_event(sse(json.dumps(payload)))
    assert [(e.kind, e.text, e.name, e.partial) for e in events] == [
        (EventKind.TEXT, "Trimming.", "", True),
        (EventKind.TOOL_CALL, "", "trim", False),
        (EventKind.TOOL_RESULT, "", "trim", False),
    ]
    assert all(e.is_progress for e in events)


def test_parse_event_ignores_null_error_fields_on_a_normal_event() -> None:
    payload = text("Fine.") | {"errorCode": None, "errorMessage": None, "error": None}
    assert [e.kind for e in parse_event(sse(json.dumps(payload)))] == [EventKind.TEXT]


def test_heartbeat_is_not_progress() -> None:
    assert not parse_event(sse(""))[0].is_progress


def test_turn_text_final_text_discards_the_partial_chunks_before_it() -> None:
    collected = TurnText()
    for event in (
        TurnEvent(EventKind.TEXT, "Hel", partial=True),
        TurnEvent(EventKind.TEXT, "lo", partial=True),
        TurnEvent(EventKind.TEXT, "Hello"),
        TurnEvent(EventKind.TEXT, "More ", partial=True),
        TurnEvent(EventKind.TEXT, "words", partial=True),
    ):
        collected.add(event)
    assert collected.result() == "Hello\n\nMore words"


def test_turn_text_drops_blank_messages() -> None:
    collected = TurnText()
    collected.add(TurnEvent(EventKind.TEXT, "  "))
    collected.add(TurnEvent(EventKind.TEXT, "Real."))
    assert collected.result() == "Real."
