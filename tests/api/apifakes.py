"""Helpers shared by the respx-based client tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx

from devkit.clock import FakeClock as FakeClock  # re-exported for the tests

BASE = "https://api.test"
ANON_PATH = "/api/auth/anonymous-token"
ANON_TOKEN = "nmv_usr_anonymous0001"
CREDITS_PATH = "/api/credits/balance/simple"


def envelope(data: Any = None, *, code: int = 0, message: str = "") -> dict[str, Any]:
    return {"code": code, "data": {} if data is None else data, "message": message}


def ok(data: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=envelope(data), headers=headers)


def failure(code: int, message: str = "refused", *, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=envelope(code=code, message=message))


def sse_body(*events: dict[str, Any] | str) -> bytes:
    """A `text/event-stream` body: dicts become `data:` events, strings are raw lines."""
    out = []
    for event in events:
        out.append(event if isinstance(event, str) else f"data: {json.dumps(event)}\n\n")
    return "".join(out).encode()


def sse_response(*events: dict[str, Any] | str) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=sse_body(*events)
    )


def bodies(route: respx.Route) -> list[Any]:
    return [json.loads(call.request.content) for call in route.calls]
