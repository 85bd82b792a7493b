"""The answer envelope, the per-request call context and JSON body reading.

Every API answer is ``{"code": ..., "data": ..., "message": ...}``. Four-digit
codes come as HTTP 200 with the code in the body; HTTP-style codes (4xx/5xx)
come as that HTTP status with an envelope body. The envelope code of every
answer is copied into the journal record of the call that produced it.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from nemowatch.emulator.faults import FaultRule
from nemowatch.emulator.world import ApiFailure, Token

ATTRIBUTION_HEADERS = ("X-Skill-Source", "X-Skill-Version", "X-Skill-Platform")


@dataclass
class Call:
    """What the middleware learned about the current API request."""

    record: dict[str, Any] | None
    endpoint: str | None
    fault: FaultRule | None = None
    token: Token | None = None

    @property
    def auth(self) -> Token:
        """The authenticated token (the middleware guarantees one where needed)."""
        if self.token is None:
            raise ApiFailure(1001, "token missing")
        return self.token

    def note(self, **fields: Any) -> None:
        """Add fields to the journal record, if the call is journaled."""
        if self.record is not None:
            self.record.update(fields)


_CALL: ContextVar[Call] = ContextVar("nemowatch_emulator_call")


def current_call() -> Call:
    """The call being answered in this task (an unjournaled one if none)."""
    try:
        return _CALL.get()
    except LookupError:
        return Call(record=None, endpoint=None)


def bind_call(call: Call) -> Any:
    """Make ``call`` current; returns the token to pass to ``unbind_call``."""
    return _CALL.set(call)


def unbind_call(token: Any) -> None:
    """Undo ``bind_call``."""
    _CALL.reset(token)


def answer(
    data: dict[str, Any] | None = None,
    *,
    top: dict[str, Any] | None = None,
    message: str = "ok",
) -> web.Response:
    """A success envelope; ``top`` adds fields next to ``code`` (render status)."""
    body: dict[str, Any] = {"code": 0, "data": data if data is not None else {}, "message": message}
    body.update(top or {})
    current_call().note(code=0)
    return web.json_response(body)


def failure(code: int, message: str, *, retry_after: float | None = None) -> web.Response:
    """A failed call, in the form the backend uses for that kind of code."""
    headers = {"Retry-After": _seconds(retry_after)} if retry_after is not None else None
    current_call().note(code=code)
    if 400 <= code <= 599:
        return web.json_response({"code": code, "message": message}, status=code, headers=headers)
    body = {"code": code, "data": None, "message": message}
    return web.json_response(body, headers=headers)


def fault_answer(rule: FaultRule) -> web.Response:
    """The answer of a rule with an ``http_status`` or ``code`` effect."""
    if rule.http_status is None:
        assert rule.code is not None
        return failure(rule.code, rule.message or f"injected error {rule.code}")
    code = rule.code if rule.code is not None else rule.http_status
    message = rule.message or f"injected HTTP {rule.http_status}"
    headers = {"Retry-After": _seconds(rule.retry_after)} if rule.retry_after is not None else None
    current_call().note(code=code)
    body = {"code": code, "message": message}
    return web.json_response(body, status=rule.http_status, headers=headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def failure_from(exc: ApiFailure) -> web.Response:
    """The answer for a raised ``ApiFailure``."""
    return failure(exc.code, exc.message, retry_after=exc.retry_after)


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, journaled as parsed.

    Raises:
        ApiFailure: 400 when the body is missing or not JSON.
    """
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        current_call().note(body={"raw": raw[:500].decode("utf-8", "replace")})
        raise ApiFailure(400, "the body is not valid JSON") from None
    current_call().note(body=body)
    if body is None:
        raise ApiFailure(400, "a JSON body is required")
    return body


def has_attribution(request: web.Request) -> bool:
    """Whether all three X-Skill-* attribution headers are present and non-empty."""
    return all(request.headers.get(name, "").strip() for name in ATTRIBUTION_HEADERS)


def bearer(request: web.Request) -> str:
    """The bearer token of a request.

    Raises:
        ApiFailure: 1001 when there is none.
    """
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiFailure(1001, "missing bearer token")
    return value.strip()
