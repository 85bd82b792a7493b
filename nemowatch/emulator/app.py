"""The aiohttp application: routes, and the middleware every API call goes through.

For each API call the middleware, in order: opens a journal record, pre-reads a
JSON body (so even a faulted call shows what was sent), lets the fault plan
choose a rule (delay, then an HTTP status or envelope code answers at once),
checks attribution when every call needs it, authenticates the bearer token and
its scope, and turns raised ``ApiFailure`` into the right envelope.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from nemowatch.emulator.control_routes import CONTROL_PREFIX, add_control_routes
from nemowatch.emulator.envelope import (
    Call,
    bearer,
    bind_call,
    failure,
    failure_from,
    fault_answer,
    has_attribution,
    read_json,
    unbind_call,
)
from nemowatch.emulator.faults import ENDPOINTS, FaultPlan
from nemowatch.emulator.handlers import Api
from nemowatch.emulator.journal import Journal
from nemowatch.emulator.world import ApiFailure, World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The scope each authenticated call needs; calls missing here need no token.
SCOPES = {
    "session": "write",
    "claim_token": "write",
    "upload": "upload",
    "run_sse": "write",
    "state": "read",
    "credits": "read",
    "render_submit": "render",
    "render_poll": "render",
    "render_download": "render",
}
_MAX_JSON_BODY = 16 * 1024 * 1024


def build_app(world: World, plan: FaultPlan, journal: Journal) -> web.Application:
    """The emulator as an aiohttp application."""

    @web.middleware
    async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        route = request.match_info.route
        endpoint = route.name if route is not None else None
        record = journal.start(
            method=request.method,
            path=request.path,
            query=request.query_string,
            endpoint=endpoint,
            headers=request.headers,
        )
        call = Call(record=record, endpoint=endpoint)
        context = bind_call(call)
        response: web.StreamResponse | None = None
        try:
            response = await _answer(world, plan, request, handler, call)
            return response
        except ConnectionError:
            record["aborted"] = True
            raise
        finally:
            if response is not None:
                record["status"] = response.status
            record["finished_at"] = time.time()
            unbind_call(context)

    app = web.Application(middlewares=[api_middleware], client_max_size=_MAX_JSON_BODY)
    api = Api(world)
    app.router.add_post("/api/auth/anonymous-token", api.anonymous_token, name="anonymous_token")
    app.router.add_post("/api/tasks/me/with-session/nemo_agent", api.create_session, name="session")
    app.router.add_post("/api/auth/claim-token", api.claim_token, name="claim_token")
    app.router.add_post("/api/upload-video/nemo_agent/me/{session_id}", api.upload, name="upload")
    app.router.add_post("/run_sse", api.run_sse, name="run_sse")
    app.router.add_get("/api/state/nemo_agent/me/{session_id}/latest", api.state, name="state")
    app.router.add_get("/api/credits/balance/simple", api.credits, name="credits")
    app.router.add_post("/api/render/proxy/lambda", api.render_submit, name="render_submit")
    app.router.add_get("/api/render/proxy/lambda/{render_id}", api.render_poll, name="render_poll")
    app.router.add_get(
        "/api/render/proxy/{render_id}/download", api.render_download, name="render_download"
    )
    app.router.add_get("/_files/renders/{name}", api.output, name="output")
    add_control_routes(app, world, plan, journal)
    return app


async def _answer(
    world: World, plan: FaultPlan, request: web.Request, handler: Handler, call: Call
) -> web.StreamResponse:
    """Everything between the journal record and the handler."""
    if request.body_exists and request.content_type != "multipart/form-data":
        try:
            await read_json(request)
        except (ApiFailure, web.HTTPException):
            pass  # the handler reports a bad body in its own words
    fault = plan.match(call.endpoint) if call.endpoint in ENDPOINTS else None
    if fault is not None:
        call.fault = fault
        call.note(fault=fault.model_dump(exclude_none=True))
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.http_status is not None or fault.code is not None:
            return fault_answer(fault)
    try:
        if world.settings.require_attribution_everywhere and not has_attribution(request):
            raise ApiFailure(402, "X-Skill-Source, X-Skill-Version and X-Skill-Platform required")
        scope = SCOPES.get(call.endpoint or "")
        if scope is not None:
            call.token = world.authenticate(bearer(request))
            if not call.token.allows(scope):
                raise ApiFailure(403, f"this token lacks the {scope!r} scope")
        return await handler(request)
    except ApiFailure as exc:
        return failure_from(exc)
    except web.HTTPException as exc:
        return failure(exc.status, exc.reason)
