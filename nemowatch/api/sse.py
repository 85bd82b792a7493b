"""The edit turn's event stream: ADK events parsed into typed events, and the
rules for reading a whole turn (heartbeats, partial text, the idle limit).

`stream_turn` opens the stream and `read_turn` reads it to its end: only
events where the agent did something reset the idle limit, heartbeats do not.

The heartbeat format is not documented: an `event: heartbeat`, a JSON
`{"type": "heartbeat"}`, an SSE comment (which httpx-sse turns into an empty
event once an `id:` was seen) and an empty `data:` are all accepted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse

from nemowatch.api.envelope import check, read_answer, translated
from nemowatch.api.models import TurnResult
from nemowatch.errors import AgentError, ApiError, StreamIdleError, TransportError, error_for_code

log = logging.getLogger("nemowatch.api")


class EventKind(StrEnum):
    TEXT = "text"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    HEARTBEAT = "heartbeat"
    ERROR = "error"
    OTHER = "other"


@dataclass(frozen=True)
class TurnEvent:
    kind: EventKind
    text: str = ""
    partial: bool = False
    name: str = ""
    code: str = ""

    @property
    def is_progress(self) -> bool:
        """Whether the agent did something (as opposed to only being alive)."""
        return self.kind in (EventKind.TEXT, EventKind.TOOL_CALL, EventKind.TOOL_RESULT)


HEARTBEAT = TurnEvent(EventKind.HEARTBEAT)


def parse_event(sse: ServerSentEvent) -> list[TurnEvent]:
    """The typed events carried by one SSE event (an ADK event may hold several parts)."""
    if sse.event.lower() in ("heartbeat", "ping", "keepalive"):
        return [HEARTBEAT]
    raw = sse.data.strip()
    if not raw:
        return [HEARTBEAT]
    try:
        payload = json.loads(raw)
    except ValueError:
        log.debug("unreadable stream event ignored: %.200s", raw)
        return [TurnEvent(EventKind.OTHER)]
    if not isinstance(payload, dict):
        return [TurnEvent(EventKind.OTHER)]
    if str(payload.get("type", "")).lower() in ("heartbeat", "ping", "keepalive") or (
        payload.get("heartbeat") is True
    ):
        return [HEARTBEAT]
    error = _error_of(payload)
    if error is not None:
        return [error]
    return list(_parts(payload)) or [TurnEvent(EventKind.OTHER)]


def _error_of(payload: dict[str, Any]) -> TurnEvent | None:
    code = payload.get("errorCode", payload.get("error_code"))
    message = payload.get("errorMessage", payload.get("error_message"))
    nested = payload.get("error")
    if isinstance(nested, dict):
        code = nested.get("code", code)
        message = nested.get("message", message)
    elif isinstance(nested, str):
        message = nested
    if code is None and message is None:
        return None
    return TurnEvent(EventKind.ERROR, text=str(message or ""), code=str(code or ""))


def _parts(payload: dict[str, Any]) -> Iterable[TurnEvent]:
    content = payload.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    partial = payload.get("partial") is True
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall") or part.get("function_call")
        result = part.get("functionResponse") or part.get("function_response")
        if isinstance(call, dict):
            yield TurnEvent(EventKind.TOOL_CALL, name=str(call.get("name", "")))
        elif isinstance(result, dict):
            yield TurnEvent(EventKind.TOOL_RESULT, name=str(result.get("name", "")))
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            yield TurnEvent(EventKind.TEXT, text=part["text"], partial=partial)


_TEMPORARY_ISSUE = re.compile(r"\bI (?:have )?encountered a temporary issue\b.*$", re.I | re.S)


@dataclass
class TurnText:
    """Collects what the agent said: final texts kept, partial chunks joined
    only when no final text followed them."""

    messages: list[str] = field(default_factory=list)
    _pending: list[str] = field(default_factory=list)
    tool_calls: list[str] = field(default_factory=list)

    def add(self, event: TurnEvent) -> None:
        if event.kind is EventKind.TOOL_CALL:
            self.tool_calls.append(event.name)
        if event.kind is not EventKind.TEXT:
            return
        if event.partial:
            self._pending.append(event.text)
        else:
            self._pending.clear()
            self.messages.append(event.text)

    def result(self) -> str:
        """The agent's words; a trailing "temporary issue" after normal text dropped."""
        messages = list(self.messages)
        if self._pending:
            messages.append("".join(self._pending))
        messages = [m.strip() for m in messages if m.strip()]
        if len(messages) > 1 and _TEMPORARY_ISSUE.match(messages[-1]):
            messages.pop()
        if messages:
            trimmed = _TEMPORARY_ISSUE.sub("", messages[-1]).strip()
            if trimmed:  # only when normal text precedes it in the same message
                messages[-1] = trimmed
        return "\n\n".join(messages)


OnEvent = Callable[[TurnEvent], None]


async def stream_turn(
    http: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str],
    idle_limit: float,
    connect_timeout: float,
    clock: Callable[[], float],
    on_event: OnEvent | None = None,
) -> TurnResult:
    """POST `payload` to `url` and read the event stream it answers to its end.

    Raises:
        StreamIdleError: only heartbeats for `idle_limit` seconds.
        TransportError: the stream broke, or the answer was not an event stream.
        ApiCodeError: an error answer, or an error event with a code of the table.
        AgentError: an error event without such a code.
    """
    timeout = httpx.Timeout(idle_limit, connect=connect_timeout)
    with translated("run_sse"):
        async with aconnect_sse(
            http, "POST", url, json=payload, headers=headers, timeout=timeout
        ) as source:
            response = source.response
            if response.status_code >= 400 or "text/event-stream" not in response.headers.get(
                "content-type", ""
            ):
                check(response, "run_sse", await read_answer(response, "run_sse"))
                raise TransportError("run_sse: the answer was not an event stream")
            return await read_turn(source, idle_limit=idle_limit, clock=clock, on_event=on_event)


async def read_turn(
    source: EventSource,
    *,
    idle_limit: float,
    clock: Callable[[], float],
    on_event: OnEvent | None = None,
) -> TurnResult:
    """Read a turn's events to the end of the stream; see `stream_turn`."""
    collected = TurnText()
    events = heartbeats = 0
    last_progress = clock()
    stream = source.aiter_sse().__aiter__()
    while True:
        remaining = idle_limit - (clock() - last_progress)
        try:
            async with asyncio.timeout(max(remaining, 0)):  # no task per event, as wait_for
                sse = await anext(stream)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise StreamIdleError(
                f"run_sse: no progress for {idle_limit:g} s (heartbeats only); "
                "the turn is treated as lost"
            ) from None
        for event in parse_event(sse):
            events += 1
            if event.kind is EventKind.HEARTBEAT:
                heartbeats += 1
            if event.is_progress:
                last_progress = clock()
            if event.kind is EventKind.ERROR:
                raise stream_error(event)
            if event.kind in (EventKind.TOOL_CALL, EventKind.TOOL_RESULT):
                log.debug("agent %s: %s", event.kind.value, event.name)
            collected.add(event)
            if on_event:
                on_event(event)
    return TurnResult(collected.result(), tuple(collected.tool_calls), events, heartbeats)


def stream_error(event: TurnEvent) -> ApiError:
    """The exception for an error event: by its code when numeric, else an AgentError."""
    if event.code.strip().lstrip("-").isdigit():
        return error_for_code(int(event.code), event.text or "error event", endpoint="run_sse")
    return AgentError(event.text or "no message", code_text=event.code)
