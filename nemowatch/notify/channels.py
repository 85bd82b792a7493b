"""The channels (the command, each Apprise URL) and the sender that retries them.

A channel's `send` makes one attempt and says what went wrong, if anything.
The `Sender` runs each delivery as a task of its own, off the job's path:
a few tries with a growing pause between them, then a warning in the log. At
the daemon's stop it lets what is being sent finish within the grace, then
gives it up (the child processes are killed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from nemowatch.notify import process
from nemowatch.notify.urls import mask_url, scrub
from nemowatch.redact import redact

log = logging.getLogger("nemowatch")

#: a child of the daemon reads its settings from the daemon; these stay with the daemon
SECRET_VARIABLES = (
    "NEMO_TOKEN",
    "NEMOWATCH_API__TOKEN",
    "NEMOWATCH_WEB__PASSWORD",
    "NEMOWATCH_WEB__METRICS_TOKEN",
    "NEMOWATCH_NOTIFY__URLS",
)
#: Apprise's child starts Python first: it gets this much on top of the channel's timeout
STARTUP_SECONDS = 5.0
#: run by its path (and `-P`: its folder not on the path), so the child imports
#: Apprise alone, not the daemon's package
CHILD = Path(__file__).with_name("child.py")


class Problem(NamedTuple):
    """Why an attempt did not go through, and whether another try may help."""

    reason: str
    retry: bool = True


Attempt = Callable[[], Awaitable[Problem | None]]


def command_environment(base: Mapping[str, str], event: Mapping[str, str]) -> dict[str, str]:
    """The daemon's environment without its secrets, plus the event's variables."""
    env = {k: v for k, v in base.items() if k not in SECRET_VARIABLES}
    return env | dict(event)


async def run_command(
    command: str, stdin: str, env: Mapping[str, str], timeout: float
) -> Problem | None:
    """One run of the notification command; its output is logged at DEBUG."""
    try:
        done = await process.run(command, stdin, timeout=timeout, env=env)
    except OSError as exc:
        return Problem(f"could not be started: {exc.strerror or exc}")
    for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        if text.strip():
            log.debug("notification command %s: %s", stream, redact(text.strip()))
    if done.status is None:
        return Problem(f"killed after {timeout:g} s without finishing")
    if not done.ok:
        return Problem(f"exited with status {done.status}")
    return None


async def send_apprise(url: str, title: str, body: str, timeout: float) -> Problem | None:
    """One message to one Apprise URL, sent by a child process (see `child.py`)."""
    message = json.dumps({"url": url, "title": title, "body": body, "timeout": timeout})
    argv = [sys.executable, "-P", str(CHILD)]
    try:
        done = await process.run(argv, message, timeout=timeout + STARTUP_SECONDS)
    except OSError as exc:
        return Problem(f"could not start the sender: {exc.strerror or exc}")
    said = scrub(done.stderr.strip(), [url])
    if said:
        log.debug("notification to %s: %s", mask_url(url), redact(said))
    if done.status is None:
        return Problem(f"no answer within {timeout:g} s")
    if done.ok:
        return None
    last = said.splitlines()[-1] if said else f"exit status {done.status}"
    return Problem(redact(last), retry=done.status == 1)


class Sender:
    """Delivers in the background, retrying each channel a few times.

    Args:
        tries: attempts per delivery before it is given up with a warning.
        pauses: the waits between attempts (the last one repeats).
        parallel: deliveries running at once (a flood of events waits its turn).
        sleep: the pause between attempts (tests pass a fast one).
    """

    def __init__(
        self,
        *,
        tries: int = 3,
        pauses: Sequence[float] = (5.0, 30.0),
        parallel: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._tries, self._pauses, self._sleep = tries, tuple(pauses) or (0.0,), sleep
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def busy(self) -> int:
        """Deliveries not finished yet."""
        return len(self._tasks)

    def submit(self, what: str, attempt: Attempt) -> None:
        """Deliver in a task of its own; `what` names the channel in the log (no secrets)."""
        if self._closed:
            log.info("notification to %s not sent: the daemon is stopping", what)
            return
        task = asyncio.create_task(self._deliver(what, attempt), name=f"notify {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, what: str, attempt: Attempt) -> None:
        async with self._slots:
            for number in range(1, self._tries + 1):
                problem = await attempt()
                if problem is None:
                    log.debug("notification sent to %s", what)
                    return
                if not problem.retry or number == self._tries:
                    tries = "1 try" if number == 1 else f"{number} tries"
                    log.warning("notification to %s not sent (%s): %s", what, tries, problem.reason)
                    return
                log.debug("notification to %s: %s; trying again", what, problem.reason)
                await self._sleep(self._pauses[min(number, len(self._pauses)) - 1])

    async def stop(self, grace: float) -> None:
        """Let deliveries finish within `grace` seconds, then give up the rest."""
        self._closed = True
        pending = set(self._tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=max(grace, 0.0))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("%d notification(s) given up at stop", len(pending))


def daemon_environment() -> dict[str, str]:
    """The environment the notification command starts from: the daemon's own."""
    return dict(os.environ)
