"""The retry policy for transient faults, in one place.

Exponential backoff with jitter, honouring the server's Retry-After; a 429
without one waits the documented 30 s. Only errors whose type says they are
transient are retried; everything else is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from nemowatch.config import Settings
from nemowatch.errors import ApiCodeError, ApiError, RateLimitedError

T = TypeVar("T")
log = logging.getLogger("nemowatch.api")

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class RetryPolicy:
    """How often and how long to wait before repeating a failed request."""

    retries: int = 4
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    rate_limit_seconds: float = 30.0
    #: the longest Retry-After honoured (a broken proxy must not park a job for days)
    max_retry_after_seconds: float = 900.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, exc: ApiError) -> float:
        """Seconds to wait before retry number `attempt + 1`."""
        backoff = min(self.max_seconds, self.base_seconds * 2.0**attempt)
        backoff = backoff / 2 + self.rng.uniform(0, backoff / 2)  # "equal jitter"
        hint: float | None = exc.retry_after if isinstance(exc, ApiCodeError) else None
        if hint is None and isinstance(exc, RateLimitedError):
            hint = self.rate_limit_seconds
        if hint is None:
            return backoff
        return max(backoff, min(hint, self.max_retry_after_seconds))

    async def run(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        """Run `operation`, repeating it after transient faults up to `retries` times."""
        attempt = 0
        while True:
            try:
                return await operation()
            except ApiError as exc:
                if not exc.transient or attempt >= self.retries:
                    raise
                wait = self.delay(attempt, exc)
                attempt += 1
                log.warning(
                    "%s failed (%s); retry %d of %d in %.1f s",
                    what,
                    exc,
                    attempt,
                    self.retries,
                    wait,
                )
                await self.sleep(wait)


def retry_policy(settings: Settings) -> RetryPolicy:
    """The policy the settings describe (`jobs.retries`, `api.retry_*`, `api.rate_limit_*`)."""
    return RetryPolicy(
        retries=settings.jobs.retries,
        base_seconds=settings.api.retry_base_seconds,
        max_seconds=settings.api.retry_max_seconds,
        rate_limit_seconds=settings.api.rate_limit_seconds,
    )
