"""The control surface under ``/_emulator/``: journal, faults, settings, actions.

No authentication and no journaling: it is how tests and benchmarks drive the
emulator, also one running in another process. Errors answer HTTP 400 with
``{"error": ...}`` so a bad fault rule fails the test that sent it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from nemowatch.emulator.faults import FaultPlan
from nemowatch.emulator.journal import Journal
from nemowatch.emulator.world import World, user_account_id

CONTROL_PREFIX = "/_emulator/"
ACTIONS = ("expire_tokens", "lose_sessions", "set_credits", "advance_clock")


class _BadControl(Exception):
    """A control request the emulator cannot apply."""


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.body_exists else {}
    except json.JSONDecodeError as exc:
        raise _BadControl(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _BadControl("body must be a JSON object")
    return body


class Control:
    """The control handlers, bound to the emulator's parts."""

    def __init__(self, world: World, plan: FaultPlan, journal: Journal) -> None:
        self.world = world
        self.plan = plan
        self.journal = journal

    async def journal_get(self, request: web.Request) -> web.Response:
        endpoint = request.query.get("endpoint")
        return web.json_response({"requests": self.journal.records(endpoint)})

    async def journal_clear(self, request: web.Request) -> web.Response:
        self.journal.clear()
        return web.json_response({"requests": []})

    async def faults_get(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": self.plan.describe()})

    async def faults_add(self, request: web.Request) -> web.Response:
        body = await _body(request)
        rules = body.get("faults")
        if not isinstance(rules, list):
            raise _BadControl('expected {"faults": [rule, ...]}')
        try:
            self.plan.add(rules)
        except ValidationError as exc:
            raise _BadControl(str(exc)) from None
        return web.json_response({"faults": self.plan.describe()})

    async def faults_clear(self, request: web.Request) -> web.Response:
        self.plan.clear()
        return web.json_response({"faults": []})

    async def settings_get(self, request: web.Request) -> web.Response:
        return web.json_response(self.world.settings.model_dump(mode="json"))

    async def settings_set(self, request: web.Request) -> web.Response:
        try:
            settings = self.world.settings.updated(await _body(request))
        except ValidationError as exc:
            raise _BadControl(str(exc)) from None
        self.world.apply_settings(settings)
        return web.json_response(settings.model_dump(mode="json"))

    async def action(self, request: web.Request) -> web.Response:
        body = await _body(request)
        name = body.get("action")
        if name == "expire_tokens":
            self.world.expire_tokens()
        elif name == "lose_sessions":
            self.world.lose_sessions()
        elif name == "set_credits":
            value = body.get("value")
            if not isinstance(value, int):
                raise _BadControl("set_credits needs an integer value")
            return web.json_response({"action": name, "accounts": self._set_credits(body, value)})
        elif name == "advance_clock":
            value = body.get("value")
            if not isinstance(value, int | float):
                raise _BadControl("advance_clock needs a number of seconds")
            self.world.clock_offset += float(value)
        else:
            raise _BadControl(f"unknown action {name!r}; known: {', '.join(ACTIONS)}")
        return web.json_response({"action": name})

    def _set_credits(self, body: dict[str, Any], value: int) -> int:
        account_id: str | None = None
        if isinstance(body.get("client_id"), str):
            account_id = body["client_id"]
        elif isinstance(body.get("token"), str):
            token = self.world.tokens.get(body["token"])
            account_id = token.account.account_id if token else user_account_id(body["token"])
        if account_id is not None and account_id not in self.world.accounts:
            raise _BadControl("no account for that client id or token")
        return self.world.set_credits(value, account_id)

    async def renders(self, request: web.Request) -> web.Response:
        shown = [
            {
                "id": r.render_id,
                "session_id": r.session_id,
                "status": r.status,
                "progress": r.progress,
                "created_at": r.created_at,
                "completed_at": r.completed_at,
                "size": r.size,
                "error": r.error,
            }
            for r in self.world.renders.values()
        ]
        return web.json_response({"renders": shown})


@web.middleware
async def _control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except _BadControl as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return response


def add_control_routes(
    app: web.Application, world: World, plan: FaultPlan, journal: Journal
) -> None:
    """Mount the control surface on ``app`` as a sub-application."""
    control = Control(world, plan, journal)
    sub = web.Application(middlewares=[_control_errors])
    sub.router.add_get("/journal", control.journal_get)
    sub.router.add_delete("/journal", control.journal_clear)
    sub.router.add_get("/faults", control.faults_get)
    sub.router.add_post("/faults", control.faults_add)
    sub.router.add_delete("/faults", control.faults_clear)
    sub.router.add_get("/settings", control.settings_get)
    sub.router.add_post("/settings", control.settings_set)
    sub.router.add_post("/actions", control.action)
    sub.router.add_get("/renders", control.renders)
    app.add_subapp(CONTROL_PREFIX.rstrip("/"), sub)
