"""Typed results of the API calls. Unknown fields are ignored, missing ones defaulted."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class AnonymousToken:
    token: str = field(repr=False)
    credits: float | None
    expires_in: float | None


@dataclass(frozen=True)
class Session:
    task_id: str
    session_id: str


@dataclass(frozen=True)
class ClaimToken:
    claim_token: str = field(repr=False)
    expires_in: float | None


@dataclass(frozen=True)
class UploadResult:
    """What the upload answered (the body is not documented, so it is kept raw)."""

    bytes_sent: int
    seconds: float
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Credits:
    available: float
    frozen: float
    total: float


@dataclass(frozen=True)
class TurnResult:
    """One edit turn: what the agent said ("" for a silent turn) and what it did."""

    text: str
    tool_calls: tuple[str, ...]
    events: int
    heartbeats: int

    @property
    def silent(self) -> bool:
        return not self.text


class RenderState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RenderStatus:
    render_id: str
    state: RenderState
    progress: float | None
    url: str | None
    message: str = ""

    @classmethod
    def parse(cls, render_id: str, body: dict[str, Any]) -> RenderStatus:
        """Read the status from the top level of the body or from `data`; both are seen."""
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        places = [p for p in (body, data) if isinstance(p, dict)]
        status = next((p["status"] for p in places if isinstance(p.get("status"), str)), "")
        try:
            state = RenderState(status.lower())
        except ValueError:
            state = RenderState.UNKNOWN
        progress = next(
            (float(p["progress"]) for p in places if isinstance(p.get("progress"), int | float)),
            None,
        )
        url = None
        for place in places:
            output = place.get("output")
            if isinstance(output, dict) and isinstance(output.get("url"), str):
                url = output["url"]
                break
        message = next((str(p["error"]) for p in places if p.get("error")), "")
        return cls(render_id, state, progress, url or None, message)
