"""The render polling cadence: growing waits, closing in on the predicted end, the limit.

`wait_for_render` is driven by a scripted render on a fake clock: only the
cadence is under test here (the status call itself is tested in tests/api).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from nemowatch.api import RenderState, RenderStatus
from nemowatch.config import ExportSettings
from nemowatch.errors import RenderFailedError, RenderTimeoutError
from nemowatch.jobs.rendering import POLL_FLOOR, poll_wait, wait_for_render

RID = "render_1700000000123"


def status(
    state: RenderState, *, progress: float | None = None, url: str | None = None, message: str = ""
) -> RenderStatus:
    return RenderStatus(RID, state, progress, url, message)


PENDING = status(RenderState.PENDING)
PROCESSING = status(RenderState.PROCESSING)
COMPLETED = status(RenderState.COMPLETED)
UNKNOWN = status(RenderState.UNKNOWN)


@dataclass
class Render:
    """A render answering `answers` in turn (the last one repeats), on a clock that
    moves only when the fake sleep is awaited."""

    answers: list[RenderStatus]
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    polls: int = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def render_status(self, render_id: str) -> RenderStatus:
        assert render_id == RID
        self.polls += 1
        return self.answers[min(self.polls, len(self.answers)) - 1]


def export(**overrides: Any) -> ExportSettings:
    return ExportSettings(**({"poll_first_seconds": 2, "poll_max_seconds": 5} | overrides))


async def wait(
    render: Render, settings: ExportSettings | None = None, **kwargs: Any
) -> RenderStatus:
    return await wait_for_render(
        render, RID, settings or export(), clock=render.clock, sleep=render.sleep, **kwargs
    )


async def test_polls_with_growing_intervals_until_completed() -> None:
    done = status(RenderState.COMPLETED, url="https://cdn/x.mp4")
    render = Render([PENDING] * 2 + [PROCESSING] * 3 + [done])
    seen: list[RenderState] = []
    assert await wait(render, on_progress=lambda s: seen.append(s.state)) == done
    assert render.sleeps == [2, 3, 4.5, 5, 5]  # poll_first 2, x1.5, capped at poll_max 5
    assert render.polls == 6
    assert seen == [RenderState.PENDING] * 2 + [RenderState.PROCESSING] * 3 + [
        RenderState.COMPLETED
    ]


async def test_a_completed_render_is_returned_after_one_poll_without_waiting() -> None:
    render = Render([COMPLETED])
    assert await wait(render) == COMPLETED
    assert (render.polls, render.sleeps) == (1, [])


async def test_a_failed_render_raises_render_failed_with_its_message() -> None:
    render = Render([PROCESSING, status(RenderState.FAILED, message="oom")])
    with pytest.raises(RenderFailedError, match="oom"):
        await wait(render)
    assert render.sleeps == [2]


async def test_times_out_after_export_timeout_seconds() -> None:
    render = Render([PROCESSING])
    with pytest.raises(RenderTimeoutError, match="not completed after 10 s"):
        await wait(render, export(timeout_seconds=10))
    assert render.sleeps == [2, 3, 4.5, 0.5]  # the last wait ends exactly at the limit
    assert render.now - 1000.0 == 10
    assert render.polls == 5


async def test_does_not_wait_past_the_estimated_completion() -> None:
    render = Render([PENDING] * 3 + [status(RenderState.PROCESSING, progress=95), COMPLETED])
    await wait(render, export(poll_first_seconds=1, poll_max_seconds=60))
    # without progress the fourth wait would be 3.375 s; 95 % after 4.75 s means 0.25 s
    # left: half of that is under the floor of 0.5 s
    assert render.sleeps == [1, 1.5, 2.25, 0.5]


async def test_closes_in_on_the_predicted_completion() -> None:
    render = Render([PENDING] * 3 + [status(RenderState.PROCESSING, progress=50), COMPLETED])
    await wait(render, export(poll_first_seconds=1, poll_max_seconds=60))
    # 50 % after 4.75 s predicts 4.75 s more: the next poll comes after half of that
    assert render.sleeps == [1, 1.5, 2.25, 2.375]


async def test_keeps_polling_an_unknown_state() -> None:
    render = Render([UNKNOWN, UNKNOWN, COMPLETED])
    assert (await wait(render)).state is RenderState.COMPLETED
    assert render.polls == 3


@pytest.mark.parametrize("progress", [None, 0.0, 100.0])
def test_without_usable_progress_the_wait_is_the_usual_interval(progress: float | None) -> None:
    reported = status(RenderState.PROCESSING, progress=progress)
    assert poll_wait(4.0, reported, 10.0, export()) == 4.0


def test_the_wait_timed_by_progress_is_never_below_the_floor() -> None:
    nearly_done = status(RenderState.PROCESSING, progress=99.9)
    assert poll_wait(4.0, nearly_done, 10.0, export()) == POLL_FLOOR
    # a poll_first_seconds shorter than the floor lowers it
    assert poll_wait(4.0, nearly_done, 10.0, export(poll_first_seconds=0.1)) == 0.1
