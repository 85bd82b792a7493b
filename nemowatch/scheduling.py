"""Running the daemon's routine work from APScheduler on the event loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


def on_loop(function: Callable[..., object]) -> Callable[..., Awaitable[None]]:
    """`function` as a coroutine: the scheduler runs plain functions in a thread, and
    what touches the daemon's state (queues, the registry, the board) must run on
    the event loop."""

    async def run(*args: object) -> None:
        function(*args)

    return run
