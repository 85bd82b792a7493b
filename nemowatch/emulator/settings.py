"""The emulator's knobs: every timing, limit and behaviour share is a setting.

Durations are float seconds so tests can run the whole protocol in a fraction
of a second. Settings are immutable; a live change (``POST /_emulator/settings``)
builds a validated copy and swaps it in, so a half-applied change never exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HeartbeatStyle = Literal["comment", "event", "json", "empty", "mixed"]
StatusPlace = Literal["top", "data", "both"]

WEEK_SECONDS = 7 * 24 * 3600.0
ALL_SCOPES = ("read", "write", "upload", "render")


class UserTokenSpec(BaseModel):
    """A preset (registered user's) token: its own account and its scopes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credits: int = 100
    scopes: list[str] = Field(default_factory=lambda: ["*"])


class EmulatorSettings(BaseModel):
    """Every knob of the emulator, with defaults close to the real backend.

    ``anonymous_scopes`` defaults to read, write, upload *and* render: the API
    page says anonymous tokens carry read/write/upload, but the published flow
    exports with an anonymous token, so the emulator lets them render unless a
    test narrows it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Identity and accounts.
    credits: int = 100
    token_ttl_seconds: float = WEEK_SECONDS
    anon_token_quota: int = 10
    anon_token_quota_window_seconds: float = WEEK_SECONDS
    anonymous_scopes: list[str] = Field(default_factory=lambda: list(ALL_SCOPES))
    user_tokens: dict[str, UserTokenSpec] = Field(default_factory=dict)
    require_attribution_everywhere: bool = False
    claim_token_ttl_seconds: int = 604800

    # Sessions and uploads.
    session_ttl_seconds: float = 3600.0
    max_upload_mb: float = 500.0
    default_media_seconds: float = 10.0
    image_seconds: float = 3.0
    use_ffmpeg: bool = True
    #: each phase (connect, read, ...) of fetching an upload by URL
    url_fetch_timeout_seconds: float = 5.0

    # Edit turns over SSE.
    turn_cost: int = 50
    turn_seconds: float = 2.0
    heartbeat_seconds: float = 0.5
    heartbeat_style: HeartbeatStyle = "mixed"
    heartbeat_only_seconds: float = 0.0
    silent_share: float = Field(default=0.3, ge=0.0, le=1.0)
    force_silent: bool | None = None
    temporary_issue_share: float = Field(default=0.0, ge=0.0, le=1.0)
    force_temporary_issue: bool | None = None
    stream_cap_seconds: float = 900.0
    seed: int = 0
    second_stage: bool = True
    second_stage_delay_seconds: float = 2.0

    # Renders.
    render_seconds: float = 3.0
    render_status_place: StatusPlace = "top"
    transcode: bool = True

    def updated(self, patch: Mapping[str, Any]) -> EmulatorSettings:
        """Return a validated copy with ``patch`` applied (unknown knobs raise)."""
        return EmulatorSettings.model_validate({**self.model_dump(), **dict(patch)})

    @property
    def max_upload_bytes(self) -> int:
        """The per-file upload limit in bytes (MB here means MiB)."""
        return int(self.max_upload_mb * 1024 * 1024)


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``KNOB=VALUE`` strings into a patch; values are JSON when they parse.

    Raises:
        ValueError: an item has no ``=``.
    """
    patch: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected KNOB=VALUE, got {item!r}")
        try:
            patch[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            patch[name.strip()] = raw
    return patch
