"""How often a running render is asked about: the polling cadence is daemon policy.

`NemoClient.render_status` is the one call; this module decides when to make
it again, and when to give up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from nemowatch.api import RenderState, RenderStatus
from nemowatch.config import ExportSettings
from nemowatch.errors import RenderFailedError, RenderTimeoutError

#: how much longer each render poll waits than the one before
POLL_GROWTH = 1.5
#: the shortest wait between two polls timed by the render's progress
POLL_FLOOR = 0.5


class RenderStatusSource(Protocol):
    """What the polling needs of `NemoClient`."""

    async def render_status(self, render_id: str) -> RenderStatus: ...


async def wait_for_render(
    client: RenderStatusSource,
    render_id: str,
    export: ExportSettings,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    on_progress: Callable[[RenderStatus], None] | None = None,
) -> RenderStatus:
    """Poll until the render completes, waiting longer between polls as it runs.

    The wait starts at `export.poll_first_seconds` and grows to
    `export.poll_max_seconds`; when the server reports progress, the next
    poll is not put off past the estimated completion.

    Raises:
        RenderFailedError: the render ended failed.
        RenderTimeoutError: not completed within `export.timeout_seconds`.
    """
    started = clock()
    interval = export.poll_first_seconds
    while True:
        status = await client.render_status(render_id)
        if on_progress:
            on_progress(status)
        if status.state is RenderState.COMPLETED:
            return status
        if status.state is RenderState.FAILED:
            raise RenderFailedError(
                f"render {render_id} failed{': ' + status.message if status.message else ''}"
            )
        elapsed = clock() - started
        left = export.timeout_seconds - elapsed
        if left <= 0:
            raise RenderTimeoutError(f"render {render_id} not completed after {elapsed:.0f} s")
        await sleep(min(poll_wait(interval, status, elapsed, export), left))
        interval = min(interval * POLL_GROWTH, export.poll_max_seconds)


def poll_wait(
    interval: float, status: RenderStatus, elapsed: float, export: ExportSettings
) -> float:
    """The usual growing interval or, when progress is reported, half the predicted
    time left: progress often lags (it may move in steps of 10 %), so the polls close
    in on the end rather than aim at it. Never sooner than `POLL_FLOOR`."""
    progress = status.progress
    if progress is None or not 0 < progress < 100 or elapsed <= 0:
        return interval
    estimate = elapsed * (100 - progress) / progress
    floor = min(export.poll_first_seconds, POLL_FLOOR)
    return min(interval, max(floor, estimate / 2))
