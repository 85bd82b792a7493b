"""The local API's routes: JSON in, JSON out, and the live feed.

Every answer carries `"schema": 1`; errors are `{"schema": 1, "error": ...,
"ids": [...]}` with 404 (no such job), 409 (a name several jobs share: `ids`
lists them) or 400 (anything else the request got wrong). Everything that
leaves goes through the redactor, as the status file does.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from nemowatch.errors import AmbiguousError, NotFoundError, UsageError
from nemowatch.redact import redact
from nemowatch.web.control import RETRY_HOWS, Control
from nemowatch.web.feed import EventFeed
from nemowatch.web.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("nemowatch")

SCHEMA = 1
CONTROL = web.AppKey[Control]("control")
METRICS = web.AppKey[Metrics]("metrics")
FEED = web.AppKey[EventFeed]("feed")
#: `[web] metrics_token`, the Bearer token of `/metrics` over TCP (None: refused there)
METRICS_TOKEN = web.AppKey[str | None]("metrics_token")
#: seconds between the live feed's keep-alive comments
KEEPALIVE = web.AppKey[float]("keepalive")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
N = TypeVar("N", int, float)


def answer(data: dict[str, Any], status: int = 200) -> web.Response:
    text = redact(json.dumps({"schema": SCHEMA, **data}, ensure_ascii=False))
    return web.Response(text=text, status=status, content_type="application/json")


def over_unix_socket(request: web.Request) -> bool:
    """Whether the request came in on the Unix socket (only its user can connect)."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    return sock is not None and sock.family == socket.AF_UNIX


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The package's errors, and the server's own, as JSON answers."""
    try:
        return await handler(request)
    except UsageError as exc:
        status = 404 if isinstance(exc, NotFoundError) else 400
        status = 409 if isinstance(exc, AmbiguousError) else status
        ids = exc.ids if isinstance(exc, AmbiguousError) else []
        return answer({"error": str(exc), "ids": ids}, status)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        return answer({"error": exc.reason, "ids": []}, exc.status)
    except Exception:  # noqa: BLE001 - one request's bug answers 500, the daemon goes on
        log.exception("the local API failed on %s %s", request.method, request.path)
        return answer({"error": "internal error (see the daemon's log)", "ids": []}, 500)


async def status(request: web.Request) -> web.Response:
    return answer(request.app[CONTROL].status())


async def jobs(request: web.Request) -> web.Response:
    return answer({"jobs": request.app[CONTROL].status().get("jobs", [])})


async def history(request: web.Request) -> web.Response:
    query = request.query
    failed = query.get("failed", "").lower() in ("1", "true", "yes", "on")
    since = _number(query.get("since"), "since", float)
    limit = _number(query.get("limit"), "limit", int)
    offset = _number(query.get("offset"), "offset", int) or 0
    search = query.get("q") or None
    found = await request.app[CONTROL].history(failed, since, limit, offset, search)
    return answer({"jobs": found})


def _number(text: str | None, name: str, kind: Callable[[str], N]) -> N | None:
    if text is None or text == "":
        return None
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{name} must be a number, not {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise UsageError(f"{name} must be 0 or more, not {text!r}")
    return value


async def pause(request: web.Request) -> web.Response:
    return answer({"message": await request.app[CONTROL].pause()})


async def resume(request: web.Request) -> web.Response:
    return answer({"message": await request.app[CONTROL].resume()})


async def cancel(request: web.Request) -> web.Response:
    return answer({"message": await request.app[CONTROL].cancel(request.match_info["name"])})


async def retry(request: web.Request) -> web.Response:
    """`{"how": ...}` as JSON (app.js), or a `how` field of a form posted without JavaScript."""
    body: Any = {}
    if request.content_type == "application/x-www-form-urlencoded":
        body = {"how": str((await request.post()).get("how", ""))}
    elif request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            raise UsageError('the body must be JSON: {"how": ""|"resend"|"start-over"}') from None
    how = body.get("how", "") if isinstance(body, dict) else None
    for choice in RETRY_HOWS:
        if how == choice:
            control = request.app[CONTROL]
            return answer({"message": await control.retry(request.match_info["name"], choice)})
    raise UsageError(f'how must be "", "resend" or "start-over", not {how!r}')


async def retry_all(request: web.Request) -> web.Response:
    return answer({"message": await request.app[CONTROL].retry_all()})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one `data:` line of JSON per job event, as they happen."""
    feed, keepalive = request.app[FEED], request.app[KEEPALIVE]
    queue = feed.open()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n: connected\n\n")
        while True:
            try:
                async with asyncio.timeout(keepalive):
                    text = await queue.get()
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if text is None:  # the daemon stops
                break
            await response.write(f"data: {text}\n\n".encode())
    except ConnectionResetError:
        pass  # the client went away (noticed at the latest by the next keep-alive)
    finally:
        feed.leave(queue)
    return response


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; over TCP only with `Authorization: Bearer <[web] metrics_token>`."""
    if not over_unix_socket(request):
        token = request.app[METRICS_TOKEN]
        given = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            why = "a wrong or missing bearer token" if token else "no [web] metrics_token set"
            return web.Response(
                text=f"metrics over TCP need [web] metrics_token as a bearer token ({why})\n",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="nemowatch"'},
            )
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/jobs", jobs)
    app.router.add_get("/api/history", history)
    app.router.add_get("/api/events", events)
    app.router.add_post("/api/pause", pause)
    app.router.add_post("/api/resume", resume)
    app.router.add_post("/api/jobs/{name}/cancel", cancel)
    app.router.add_post("/api/failed/{name}/retry", retry)
    app.router.add_post("/api/retry-all", retry_all)
    app.router.add_get("/metrics", metrics)
