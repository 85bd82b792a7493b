"""The notifier on a fake clock, its sends recorded (see `fakes`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from devkit.clock import FakeClock
from nemowatch.config import Settings
from nemowatch.notify import Notifier
from tests.notify.fakes import ZONE, Recorder, Rig, local


@pytest.fixture
def rig() -> Callable[..., Rig]:
    """`rig(command="x", events=[...])`: a notifier on a fake clock, recording its sends."""

    def make(*, now: float = local(2026, 1, 10, 12, 0), **notify: Any) -> Rig:
        notify.setdefault("command", "record")
        settings = [Settings(notify=notify)]
        clock, sender = FakeClock(now), Recorder()
        notifier = Notifier(
            lambda: settings[0],
            clock=clock,
            zone=ZONE,
            sender=sender,
            environ={"PATH": "/usr/bin:/bin", "NEMO_TOKEN": "nmv_usr_thedaemonstoken"},
        )
        return Rig(notifier, sender, clock, settings)

    return make


@pytest.fixture(autouse=True)
async def no_task_left() -> AsyncIterator[None]:
    """A test must leave no task running on its event loop: one that is left is named
    with where it waits, then cancelled (a task that ignores that would hang the loop's
    close, and with it the whole run)."""
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if not left:
        return
    described = "; ".join(f"{t.get_name()} at {_where(t)}" for t in left)
    for task in left:
        task.cancel()
    _, stuck = await asyncio.wait(left, timeout=10)
    assert not stuck, f"tasks ignore their cancellation: {described}"
    pytest.fail(f"tasks left running: {described}")


def _where(task: asyncio.Task[Any]) -> str:
    frames = task.get_stack(limit=3)
    return " < ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames) or repr(task)
