"""Helpers for the emulator's conformance tests: a thin protocol client.

The client here is deliberately plain httpx speaking nemovideo-api.md, not
nemowatch's own API client: these tests check the emulator against the
document, independently of the code it will be used to test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devkit.waits import wait_for

ATTRIBUTION = {
    "X-Skill-Source": "nemowatch-tests",
    "X-Skill-Version": "0.1.0",
    "X-Skill-Platform": "linux",
}
FAST: dict[str, Any] = {
    "turn_seconds": 0.2,
    "heartbeat_seconds": 0.05,
    "render_seconds": 0.3,
    "second_stage_delay_seconds": 0.2,
    "force_silent": False,
}


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    return wait_for(predicate, timeout, step=step)


@dataclass
class Stream:
    """One run_sse answer: the raw lines and the ADK events among them."""

    status: int
    content_type: str
    lines: list[str] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The ``data:`` JSON payloads that are ADK events (not heartbeats)."""
        found = []
        for line in self.lines:
            if not line.startswith("data:") or not line[5:].strip():
                continue
            payload = json.loads(line[5:])
            if payload and payload.get("type") != "heartbeat":
                found.append(payload)
        return found

    @property
    def texts(self) -> list[tuple[bool, str]]:
        """(partial, text) of every text part, in order."""
        return [
            (bool(event.get("partial")), part["text"])
            for event in self.events
            for part in event.get("content", {}).get("parts", [])
            if "text" in part
        ]


class Nemo:
    """A minimal protocol client for the tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        # verify=False: plain http on loopback; skips ~50 ms of certificate loading.
        self.http = httpx.Client(base_url=url, headers=ATTRIBUTION, timeout=15.0, verify=False)

    def close(self) -> None:
        self.http.close()

    def token(self, client_id: str = "client-1") -> str:
        response = self.http.post("/api/auth/anonymous-token", headers={"X-Client-Id": client_id})
        token: str = response.json()["data"]["token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        return token

    def session(self) -> str:
        body = self.http.post(
            "/api/tasks/me/with-session/nemo_agent", json={"task_name": "project", "language": "en"}
        ).json()
        assert body["code"] == 0, body
        sid: str = body["data"]["session_id"]
        return sid

    def upload(self, sid: str, *paths: Path) -> httpx.Response:
        handles = [path.open("rb") for path in paths]
        try:
            files = [
                ("files", (p.name, h, "application/octet-stream"))
                for p, h in zip(paths, handles, strict=True)
            ]
            return self.http.post(f"/api/upload-video/nemo_agent/me/{sid}", files=files)
        finally:
            for handle in handles:
                handle.close()

    def turn_body(self, sid: str, text: str) -> dict[str, Any]:
        return {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": sid,
            "new_message": {"parts": [{"text": text}]},
        }

    def turn(self, sid: str, text: str = 'Add the title "Urban Dreams"') -> Stream:
        with self.http.stream(
            "POST",
            "/run_sse",
            json=self.turn_body(sid, text),
            headers={"Accept": "text/event-stream"},
        ) as response:
            stream = Stream(response.status_code, response.headers.get("content-type", ""))
            stream.lines = list(response.iter_lines())
        return stream

    def state(self, sid: str) -> dict[str, Any]:
        body = self.http.get(f"/api/state/nemo_agent/me/{sid}/latest").json()
        assert body["code"] == 0, body
        state: dict[str, Any] = body["data"]["state"]
        return state

    def credits(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get("/api/credits/balance/simple").json()["data"]
        return data

    def submit(self, sid: str, render_id: str, draft: Any = None, **kw: Any) -> httpx.Response:
        draft = self.state(sid)["draft"] if draft is None else draft
        body = {"id": render_id, "sessionId": sid, "draft": draft, "output": {"format": "mp4"}}
        return self.http.post("/api/render/proxy/lambda", json=body, **kw)

    def poll(self, render_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.http.get(f"/api/render/proxy/lambda/{render_id}").json()
        return body

    def wait_render(self, render_id: str, timeout: float = 15.0) -> dict[str, Any]:
        done: dict[str, Any] = wait_until(
            lambda: (b := self.poll(render_id))["status"] in ("completed", "failed") and b,
            timeout=timeout,
        )
        return done
