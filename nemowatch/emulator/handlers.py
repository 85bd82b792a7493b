"""The API calls of nemovideo-api.md, one handler each.

Authentication, scopes and the fault plan's generic effects are applied by the
middleware in ``app.py`` before these run; the handlers do what the call means.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from nemowatch.emulator import agent, draft, renders, uploads, url_uploads
from nemowatch.emulator.envelope import answer, current_call, has_attribution, read_json
from nemowatch.emulator.world import (
    EMPTY_DRAFT,
    RENDER_NOT_FOUND,
    RENDER_NOT_READY,
    RENDER_RUNNING,
    ApiFailure,
    Render,
    World,
)

_RENDER_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def base_url(request: web.Request) -> str:
    """The address the client reached us by, for links we hand out."""
    return f"{request.scheme}://{request.host}"


class Api:
    """The handlers, bound to one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def anonymous_token(self, request: web.Request) -> web.Response:
        """The client's still-valid token again, or a new one (quota permitting)."""
        client_id = request.headers.get("X-Client-Id", "").strip()
        if not client_id:
            raise ApiFailure(400, "missing X-Client-Id header")
        token, _ = self.world.issue_anonymous(client_id, request.remote or "unknown")
        ttl = self.world.settings.token_ttl_seconds
        remaining = max(0, round(token.issued_at + ttl - self.world.now()))
        data = {"token": token.value, "credits": token.account.available, "expires_in": remaining}
        return answer(data)

    async def create_session(self, request: web.Request) -> web.Response:
        body = await read_json(request) if request.body_exists else {}
        if not isinstance(body, dict) or not isinstance(body.get("task_name", ""), str):
            raise ApiFailure(400, 'expected {"task_name": "project", "language": "en"}')
        session = self.world.new_session(current_call().auth.account)
        return answer({"task_id": session.task_id, "session_id": session.session_id})

    async def claim_token(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        task_id = body.get("task_id") if isinstance(body, dict) else None
        session_id = body.get("session_id") if isinstance(body, dict) else None
        if not isinstance(task_id, str) or not isinstance(session_id, str):
            raise ApiFailure(400, 'expected {"task_id": ..., "session_id": ...}')
        session = self.world.session(session_id, current_call().auth.account)
        if session.task_id != task_id:
            raise ApiFailure(1002, "no such session for that task")
        expires = self.world.settings.claim_token_ttl_seconds
        return answer({"claim_token": "clm_" + secrets.token_hex(16), "expires_in": expires})

    async def upload(self, request: web.Request) -> web.Response:
        """Multipart parts streamed to disk, or the JSON form: URLs the emulator fetches."""
        session = self.world.session(request.match_info["session_id"], current_call().auth.account)
        if request.content_type == "multipart/form-data":
            return await uploads.upload(self.world, request, session)
        return await url_uploads.upload(self.world, request, session)

    async def state(self, request: web.Request) -> web.Response:
        session = self.world.session(request.match_info["session_id"], current_call().auth.account)
        return answer({"session_id": session.session_id, "state": draft.state_of(session)})

    async def credits(self, request: web.Request) -> web.Response:
        account = current_call().auth.account
        total = account.available + account.frozen
        return answer({"available": account.available, "frozen": account.frozen, "total": total})

    async def run_sse(self, request: web.Request) -> web.StreamResponse:
        """Start a turn (background work) and relay its events while the client listens."""
        call = current_call()
        body = await read_json(request)
        session_id, text = _turn_request(body)
        session = self.world.session(session_id, call.auth.account)
        cost = self.world.settings.turn_cost
        if session.account.available < cost:
            raise ApiFailure(2001, f"insufficient credits: a turn costs {cost}")
        turn = agent.Turn(self.world, session, text, call.fault)
        self.world.spawn(turn.run())
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        drop = call.fault.drop_after_events if call.fault is not None else None
        try:
            await response.prepare(request)
            if await agent.relay(request, response, turn, drop):
                call.note(aborted=True)
        except ConnectionError:  # the client hung up; the turn goes on regardless
            call.note(aborted=True)
        return response

    async def render_submit(self, request: web.Request) -> web.Response:
        """Start an export; the same id again answers the existing render."""
        if not has_attribution(request):
            raise ApiFailure(402, "export requires X-Skill-Source, -Version and -Platform")
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiFailure(400, "expected a JSON object")
        render_id, session_id, submitted = body.get("id"), body.get("sessionId"), body.get("draft")
        if not isinstance(session_id, str) or not session_id:
            raise ApiFailure(400, "sessionId is required (camelCase)")
        if not isinstance(render_id, str) or not _RENDER_ID.fullmatch(render_id):
            raise ApiFailure(400, "id is required: letters, digits, '_', '.', '-'")
        account = current_call().auth.account
        existing = self.world.renders.get(render_id)
        if existing is not None:
            if existing.account is not account:
                raise ApiFailure(400, "that render id is taken")
            return self._render_answer(request, existing)
        session = self.world.session(session_id, account)
        if not draft.has_content(submitted):
            raise ApiFailure(EMPTY_DRAFT, "the draft has no segments: nothing to export")
        for other in self.world.renders.values():
            if other.session_id == session_id and other.status in ("pending", "processing"):
                raise ApiFailure(RENDER_RUNNING, f"render {other.render_id} is still running")
        render = Render(render_id, session_id, account)
        render.signature = renders.sign(self.world, render_id)
        self.world.renders[render_id] = render
        wanted = draft.video_media_ids(submitted)
        media = sorted(
            session.media,
            key=lambda m: wanted.index(m.media_id) if m.media_id in wanted else len(wanted),
        )
        seconds = draft.length_ms(submitted) / 1000 or 3.0
        fault = current_call().fault
        fail = fault is not None and fault.render_fail
        self.world.spawn(renders.run_render(self.world, render, media, seconds, fail))
        return self._render_answer(request, render)

    async def render_poll(self, request: web.Request) -> web.Response:
        return self._render_answer(request, self._render(request))

    async def render_download(self, request: web.Request) -> web.StreamResponse:
        render = self._render(request)
        return await self._send(request, render)

    async def output(self, request: web.Request) -> web.StreamResponse:
        """The signed output link: no token, like a CDN URL."""
        render_id = request.match_info["name"].removesuffix(".mp4")
        render = self.world.renders.get(render_id)
        signature = request.query.get("sig", "")
        if render is None or not secrets.compare_digest(signature, render.signature):
            raise ApiFailure(403, "invalid or missing signature")
        return await self._send(request, render)

    def _render(self, request: web.Request) -> Render:
        render = self.world.renders.get(request.match_info["render_id"])
        if render is None or render.account is not current_call().auth.account:
            raise ApiFailure(RENDER_NOT_FOUND, "no such render")
        return render

    async def _send(self, request: web.Request, render: Render) -> web.StreamResponse:
        if render.status != "completed" or render.path is None:
            raise ApiFailure(RENDER_NOT_READY, f"render is {render.status}, not completed")
        fault = current_call().fault
        drop = fault.drop_after_bytes if fault is not None else None
        return await renders.send_file(request, render.path, f"{render.render_id}.mp4", drop)

    def _render_answer(self, request: web.Request, render: Render) -> web.Response:
        """Render fields where ``render_status_place`` says: top, data or both."""
        shown = renders.view(render, base_url(request))
        place = self.world.settings.render_status_place
        data: dict[str, Any] = {"id": render.render_id, "session_id": render.session_id}
        if place in ("data", "both"):
            data.update(shown)
        top = {k: v for k, v in shown.items() if k != "id"} if place in ("top", "both") else None
        return answer(data, top=top)


def _turn_request(body: Any) -> tuple[str, str]:
    """The session id and the instruction text of a run_sse body.

    Raises:
        ApiFailure: 400 when the body does not have the documented shape.
    """
    shape = 'expected {"app_name": "nemo_agent", "user_id": "me", "session_id", "new_message"}'
    if not isinstance(body, dict) or body.get("app_name") != "nemo_agent":
        raise ApiFailure(400, shape)
    session_id, message = body.get("session_id"), body.get("new_message")
    if not isinstance(body.get("user_id"), str) or not isinstance(session_id, str):
        raise ApiFailure(400, shape)
    parts = message.get("parts") if isinstance(message, dict) else None
    if not isinstance(parts, list):
        raise ApiFailure(400, shape)
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    if not texts or not "".join(texts).strip():
        raise ApiFailure(400, "new_message.parts holds no text")
    return session_id, "\n".join(texts)
