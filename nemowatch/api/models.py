"""Typed results of the API calls. Unknown fields are ignored, missing ones defaulted;
an answer without the one field it exists for is a `TransportError`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from nemowatch.errors import TransportError


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class AnonymousToken:
    token: str = field(repr=False)
    credits: float | None
    expires_in: float | None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> AnonymousToken:
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise TransportError("anonymous_token: the answer held no token")
        return cls(token, _number(data.get("credits")), _number(data.get("expires_in")))


@dataclass(frozen=True)
class Session:
    task_id: str
    session_id: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Session:
        session_id = data.get("session_id")
        if not session_id:
            raise TransportError("session: the answer held no session_id")
        return cls(task_id=str(data.get("task_id", "")), session_id=str(session_id))


@dataclass(frozen=True)
class ClaimToken:
    claim_token: str = field(repr=False)
    expires_in: float | None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ClaimToken:
        claim = data.get("claim_token")
        if not isinstance(claim, str) or not claim:
            raise TransportError("claim_token: the answer held no claim_token")
        return cls(claim, _number(data.get("expires_in")))


@dataclass(frozen=True)
class UploadResult:
    """What the upload answered (the body is not documented, so it is kept raw)."""

    bytes_sent: int
    seconds: float
    data: dict[str, Any] = field(repr=False)
    #: the sha256 of each file (by its path), computed from the bytes sent
    sha256: dict[Path, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Credits:
    available: float
    frozen: float
    total: float

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Credits:
        return cls(
            available=_number(data.get("available")) or 0,
            frozen=_number(data.get("frozen")) or 0,
            total=_number(data.get("total")) or 0,
        )


class RenderIds:
    """`render_<unix-ms>` ids, strictly increasing within the process."""

    def __init__(self) -> None:
        self._last = 0

    def new(self) -> str:
        self._last = max(int(time.time() * 1000), self._last + 1)
        return f"render_{self._last}"


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
        for place in places:  # `output.url`; an older reference had `outputUrl`
            output = place.get("output")
            if isinstance(output, dict) and isinstance(output.get("url"), str):
                url = output["url"]
            elif isinstance(place.get("outputUrl"), str):
                url = place["outputUrl"]
            if url:
                break
        message = next((str(p["error"]) for p in places if p.get("error")), "")
        return cls(render_id, state, progress, url or None, message)
