"""A child process that may hang: fed, timed, and killed with everything it started.

Both channels send through child processes: the notification command, and
Apprise (synchronous, so it runs in a process of its own, where a channel
that hangs can be killed). Each child gets a process group of its own, so a
shell's children go with it when it overruns or the daemon stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: how long a spawn that was cancelled may take to finish, so its child is killed
SPAWN_SECONDS = 10.0


@dataclass(frozen=True)
class Finished:
    """How a child ended: its exit status (None: killed after `timeout`) and its output."""

    status: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


async def run(
    argv: str | Sequence[str],
    stdin: str,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Finished:
    """Run `argv` (a shell command line when a string), `stdin` fed to it, for `timeout` s.

    The child and its process group are killed when it overruns, and when the
    waiting task is cancelled (the daemon's stop gave up on it).

    Raises:
        OSError: the child could not be started.
    """
    pipes = {
        "stdin": asyncio.subprocess.PIPE,
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.PIPE,
        "env": dict(env) if env is not None else None,
        "start_new_session": True,  # its own group: killed with whatever it started
    }
    spawning = asyncio.ensure_future(_spawn(argv, pipes))
    try:
        # shielded: Python 3.11 never finishes a spawn cancelled while its pipes connect
        # (its cleanup waits for pipes that were never connected), and the stop hangs
        proc = await asyncio.shield(spawning)
    except asyncio.CancelledError:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait({spawning}, timeout=SPAWN_SECONDS)
            if spawning.done() and spawning.exception() is None:
                await _kill(spawning.result())
        raise
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    except TimeoutError:
        await _kill(proc)
        return Finished(None, "", "")
    except BaseException:  # cancelled: the stop's grace is over, or a bug; the child goes too
        await _kill(proc)
        raise
    return Finished(proc.returncode, _text(out), _text(err))


async def _spawn(argv: str | Sequence[str], pipes: dict[str, Any]) -> asyncio.subprocess.Process:
    if isinstance(argv, str):
        return await asyncio.create_subprocess_shell(argv, **pipes)
    return await asyncio.create_subprocess_exec(*argv, **pipes)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the child's group, then reap it (quickly: SIGKILL cannot be ignored)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    # shielded: a second cancellation must not leave a zombie behind
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), 5)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
