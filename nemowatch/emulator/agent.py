"""The editing agent: one SSE turn, simulated the way the ADK backend streams it.

A turn is background work, not part of the request: it freezes the cost when it
starts, lands the edit and charges when it ends, and then schedules the second
stage. The request only relays the turn's events (plus heartbeats) to the
client, so a client that drops the stream does not stop the edit, as on the
real backend ("never send the same message twice").
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from nemowatch.emulator import draft
from nemowatch.emulator.faults import FaultRule
from nemowatch.emulator.world import Session, World

AUTHOR = "nemo_agent"
TEMPORARY_ISSUE = "I encountered a temporary issue. Please try again."
_REPLIES = (
    'I\'ve put your clips on the timeline and added the title "{title}". '
    "You can preview it in the timeline and click Export when you're happy.",
    'Done! I tightened the pacing and added "{title}" as an opening title. '
    "Open the style panel on the right to tweak the font, then click Export.",
    'Your edit is ready: "{title}" shows for the first few seconds. Drag the clips '
    "in the timeline to change their order, and click Export when you're happy.",
)
_HEARTBEATS = {
    "comment": b": heartbeat\n\n",
    "event": b"event: heartbeat\ndata: {}\n\n",
    "json": b'data: {"type": "heartbeat"}\n\n',
    "empty": b"data:\n\n",
}
_ROTATION = ("comment", "event", "json", "empty")
_END = None


def sse_data(event: dict[str, Any]) -> bytes:
    """One SSE message carrying a JSON event on a ``data:`` line."""
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def heartbeat(style: str, index: int) -> bytes:
    """The ``index``-th heartbeat in ``style`` (``mixed`` rotates every style)."""
    return _HEARTBEATS[_ROTATION[index % len(_ROTATION)] if style == "mixed" else style]


class Turn:
    """One edit turn: its schedule, its events and what it does to the session."""

    def __init__(
        self, world: World, session: Session, instruction: str, fault: FaultRule | None
    ) -> None:
        self.world = world
        self.session = session
        self.instruction = instruction
        self.fault = fault
        self.cost = world.settings.turn_cost
        self.invocation_id = "e-" + str(uuid.uuid4())
        self.events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        settings = world.settings
        # Always draw the same numbers per turn so a seed fixes the whole run.
        silent_draw, issue_draw, reply_draw = (world.rng.random() for _ in range(3))
        self.silent = (
            settings.force_silent
            if settings.force_silent is not None
            else silent_draw < settings.silent_share
        )
        self.temporary_issue = not self.silent and (
            settings.force_temporary_issue
            if settings.force_temporary_issue is not None
            else issue_draw < settings.temporary_issue_share
        )
        title = draft.title_from(instruction)
        self.reply = _REPLIES[int(reply_draw * len(_REPLIES))].format(title=title)
        session.account.available -= self.cost
        session.account.frozen += self.cost
        self._settled = False

    def _event(self, parts: list[dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "invocationId": self.invocation_id,
            "author": AUTHOR,
            "timestamp": time.time(),
        }
        if parts is not None:
            event["content"] = {"role": "model", "parts": parts}
        event.update(extra)
        return event

    def _emit(self, parts: list[dict[str, Any]] | None, **extra: Any) -> None:
        self.events.put_nowait(self._event(parts, **extra))

    async def run(self) -> None:
        """Play the turn: tool call and result, text chunks, then the landing."""
        seconds = self.world.settings.turn_seconds
        call_id = "call_" + uuid.uuid4().hex[:12]
        args = {"instruction": self.instruction, "session_id": self.session.session_id}
        try:
            await asyncio.sleep(0.15 * seconds)
            self._emit([{"functionCall": {"id": call_id, "name": "edit_timeline", "args": args}}])
            await asyncio.sleep(0.25 * seconds)
            result = {"status": "success", "media": len(self.session.media)}
            response = {"id": call_id, "name": "edit_timeline", "response": result}
            self._emit([{"functionResponse": response}], partial=False)
            if self.fault is not None and self.fault.error_event not in (None, False):
                await asyncio.sleep(0.1 * seconds)
                self._emit(None, **self.fault.error_payload())
                self._settle(landed=self.fault.lands is True)
                return
            await asyncio.sleep(self.world.settings.heartbeat_only_seconds)
            await self._stream_text(0.4 * seconds)
            await asyncio.sleep(0.2 * seconds)
            self._settle(landed=self.fault is None or self.fault.lands is not False)
            if not self.silent:
                self._emit([{"text": self.reply}], partial=False)
                if self.temporary_issue:
                    self._emit([{"text": TEMPORARY_ISSUE}], partial=False)
        finally:
            self._settle(landed=False)
            self.events.put_nowait(_END)

    async def _stream_text(self, seconds: float) -> None:
        """Send the reply as partial chunks (or just let the time pass if silent)."""
        if self.silent:
            await asyncio.sleep(seconds)
            return
        words = self.reply.split(" ")
        size = max(1, -(-len(words) // 4))
        chunks = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
        for index, chunk in enumerate(chunks):
            await asyncio.sleep(seconds / len(chunks))
            text = chunk if index == len(chunks) - 1 else chunk + " "
            self._emit([{"text": text}], partial=True)

    def _settle(self, *, landed: bool) -> None:
        """Charge and apply the edit, or release the frozen cost; only once."""
        if self._settled:
            return
        self._settled = True
        account = self.session.account
        account.frozen -= self.cost
        if not landed:
            account.available += self.cost
            return
        draft.apply_edit(self.session, self.instruction)
        self.world.spawn(self._second_stage())

    async def _second_stage(self) -> None:
        await asyncio.sleep(self.world.settings.second_stage_delay_seconds)
        if self.world.settings.second_stage:
            draft.second_stage(self.session)


async def relay(
    request: web.BaseRequest,
    response: web.StreamResponse,
    turn: Turn,
    drop_after_events: int | None,
) -> bool:
    """Write the turn's events and the heartbeats to the client.

    Returns:
        Whether the connection was aborted on purpose (a fault).

    Raises:
        ConnectionError: the client went away; the turn carries on regardless.
    """
    loop = asyncio.get_running_loop()
    settings = turn.world.settings
    started = loop.time()
    next_beat = started + settings.heartbeat_seconds
    beats = sent = 0
    if drop_after_events == 0:
        await abort(request)
        return True
    getter: asyncio.Task[dict[str, Any] | None] = loop.create_task(turn.events.get())
    try:
        while loop.time() - started < settings.stream_cap_seconds:
            timeout = max(0.0, min(next_beat, started + settings.stream_cap_seconds) - loop.time())
            done, _ = await asyncio.wait({getter}, timeout=timeout)
            if not done:
                if loop.time() >= next_beat:
                    await response.write(heartbeat(settings.heartbeat_style, beats))
                    beats += 1
                    next_beat += settings.heartbeat_seconds
                continue
            event = getter.result()
            if event is _END:
                return False
            await response.write(sse_data(event))
            sent += 1
            if drop_after_events is not None and sent >= drop_after_events:
                await abort(request)
                return True
            getter = loop.create_task(turn.events.get())
        return False
    finally:
        getter.cancel()


async def abort(request: web.BaseRequest) -> None:
    """Cut the connection abruptly, once what was written has left the buffer."""
    transport = request.transport
    if transport is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while transport.get_write_buffer_size() and loop.time() < deadline:
        await asyncio.sleep(0.005)
    transport.abort()
