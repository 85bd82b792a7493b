"""The fault plan: rules that make chosen calls fail in chosen ways.

A rule names an endpoint, skips ``after`` matching calls (counted from when the
rule was added), then fires on the next ``times`` matching calls (0 = forever).
Every matching call counts for every rule; when several rules could fire on one
call, the one added first wins. A rule fires on the request, whatever the
request turns out to be (a call that would have failed auth still uses it up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Endpoint = Literal[
    "anonymous_token",
    "session",
    "claim_token",
    "upload",
    "run_sse",
    "state",
    "credits",
    "render_submit",
    "render_poll",
    "render_download",
    "output",
]
ENDPOINTS: tuple[str, ...] = get_args(Endpoint)

_EXCLUSIVE = ("drop_after_bytes", "drop_after_events", "error_event", "render_fail")


class FaultRule(BaseModel):
    """One rule of the fault plan.

    Effects (one per rule; ``delay_seconds`` combines with any other):

    - ``http_status``: answer that HTTP status with an envelope body
      ``{"code": code or http_status, "message": ...}`` and, with
      ``retry_after``, a ``Retry-After`` header.
    - ``code`` alone: HTTP 200 envelope carrying that code.
    - ``drop_after_bytes``: upload: read that many body bytes, then abort the
      connection; render_download/output: send that many body bytes, then abort.
    - ``drop_after_events``: run_sse: send that many ADK events (heartbeats not
      counted), then abort; the edit still lands unless ``lands`` is false.
    - ``error_event``: run_sse: after the tool events, send an ADK error event
      (``true``, a message, or a dict with ``errorCode``/``errorMessage``) and
      end the stream; the edit does not land (credits are released) unless
      ``lands`` is true.
    - ``render_fail``: render_submit: that render ends ``failed``.
    - ``delay_seconds``: wait this long before answering.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: Endpoint | Literal["*"]
    after: int = Field(default=0, ge=0)
    times: int = Field(default=1, ge=0)
    http_status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    code: int | None = None
    message: str | None = None
    drop_after_bytes: int | None = Field(default=None, ge=0)
    drop_after_events: int | None = Field(default=None, ge=0)
    error_event: bool | str | dict[str, Any] | None = None
    render_fail: bool = False
    delay_seconds: float | None = Field(default=None, ge=0)
    lands: bool | None = None

    @model_validator(mode="after")
    def _one_effect(self) -> FaultRule:
        chosen = [name for name in _EXCLUSIVE if getattr(self, name) not in (None, False)]
        if self.http_status is not None:
            chosen.append("http_status")
        elif self.code is not None:
            chosen.append("code")
        if len(chosen) > 1:
            raise ValueError(f"a rule has one effect, got {', '.join(chosen)}")
        if not chosen and self.delay_seconds is None:
            raise ValueError("a rule needs an effect (http_status, code, drop_*, ...)")
        return self

    def error_payload(self) -> dict[str, Any]:
        """The ADK error fields this rule's ``error_event`` asks for."""
        payload: dict[str, Any] = {
            "errorCode": "INTERNAL_ERROR",
            "errorMessage": "The agent failed to complete the request.",
        }
        if isinstance(self.error_event, str):
            payload["errorMessage"] = self.error_event
        elif isinstance(self.error_event, dict):
            payload.update(self.error_event)
        return payload


@dataclass
class _Armed:
    """A rule with its counters since it was added."""

    rule_id: int
    rule: FaultRule
    seen: int = 0
    fired: int = 0


class FaultPlan:
    """The active rules; only touched from the emulator's event loop."""

    def __init__(self) -> None:
        self._rules: list[_Armed] = []
        self._next_id = 1

    def add(self, rules: Iterable[FaultRule | Mapping[str, Any]]) -> list[FaultRule]:
        """Validate and arm ``rules`` (all or none); returns the parsed rules."""
        parsed = [r if isinstance(r, FaultRule) else FaultRule.model_validate(r) for r in rules]
        for rule in parsed:
            self._rules.append(_Armed(self._next_id, rule))
            self._next_id += 1
        return parsed

    def clear(self) -> None:
        """Disarm every rule."""
        self._rules.clear()

    def match(self, endpoint: str) -> FaultRule | None:
        """Count one call to ``endpoint`` and return the rule that fires, if any."""
        winner: FaultRule | None = None
        for armed in self._rules:
            if armed.rule.endpoint not in ("*", endpoint):
                continue
            armed.seen += 1
            exhausted = armed.rule.times and armed.fired >= armed.rule.times
            if winner is None and armed.seen > armed.rule.after and not exhausted:
                armed.fired += 1
                winner = armed.rule
        return winner

    def describe(self) -> list[dict[str, Any]]:
        """Every rule as JSON, with how many calls it saw and fired on."""
        return [
            {
                "id": a.rule_id,
                **a.rule.model_dump(exclude_none=True),
                "seen": a.seen,
                "fired": a.fired,
            }
            for a in self._rules
        ]
