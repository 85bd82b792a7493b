"""Waiting on a condition with a deadline (never sleep and hope).

A wait also watches the daemons that are running (each `devkit.daemon.Daemon`
registers itself on start and leaves on stop): when one has exited and the
condition still does not hold, the wait fails at once with the tail of that
daemon's log instead of waiting out its deadline.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class WaitFailed(AssertionError):
    """A condition did not come true: its deadline passed, or a watched process died."""


class Watched(Protocol):
    """A process a wait keeps an eye on."""

    def exited(self) -> bool:
        """True once the process has exited although nobody stopped it."""
        ...

    def describe(self) -> str:
        """What it is and why it ended: e.g. its exit code and the tail of its log."""
        ...


_watched: weakref.WeakSet[Watched] = weakref.WeakSet()


def watch(process: Watched) -> None:
    """Have every wait fail early if `process` exits."""
    _watched.add(process)


def unwatch(process: Watched) -> None:
    _watched.discard(process)


def check_watched(what: str) -> None:
    """Raise `WaitFailed` if a watched process has exited."""
    for process in list(_watched):
        if process.exited():
            raise WaitFailed(f"{process.describe()}\n(while waiting for {what})")


def wait_for(
    predicate: Callable[[], T], timeout: float = 30, what: str = "condition", step: float = 0.05
) -> T:
    """Poll `predicate` until it returns something truthy, and return that.

    Raises:
        WaitFailed: not within `timeout` seconds, or a watched daemon exited first
            (the message then holds its exit code and the tail of its log).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        try:
            check_watched(what)
        except WaitFailed:
            value = predicate()  # it may have come true as the process ended
            if value:
                return value
            raise
        if time.monotonic() > deadline:
            running = "".join(f"\n{p.describe()}" for p in list(_watched))
            raise WaitFailed(f"timed out after {timeout:g} s waiting for {what}{running}")
        time.sleep(step)
