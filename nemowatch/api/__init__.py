"""Everything that speaks HTTP to NemoVideo lives in this package."""

from nemowatch.api.client import NemoClient, open_client
from nemowatch.api.models import (
    AnonymousToken,
    ClaimToken,
    Credits,
    RenderState,
    RenderStatus,
    Session,
    TurnResult,
    UploadResult,
)
from nemowatch.api.retry import RetryPolicy, retry_policy
from nemowatch.api.sse import EventKind, TurnEvent
from nemowatch.api.timeline import Draft, SessionState

__all__ = [
    "AnonymousToken",
    "ClaimToken",
    "Credits",
    "Draft",
    "EventKind",
    "NemoClient",
    "RenderState",
    "RenderStatus",
    "RetryPolicy",
    "Session",
    "SessionState",
    "TurnEvent",
    "TurnResult",
    "UploadResult",
    "open_client",
    "retry_policy",
]
