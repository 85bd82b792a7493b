"""What the local API asks of the daemon: `Control`.

The server knows nothing of workers, journals or conditions; it calls these
methods and turns what they return (or raise) into JSON. The daemon implements
them; tests hand in a small fake.

    Errors the actions raise, and the answers they become:

    UsageError                  400  the request cannot be carried out as given
    ├── NotFoundError           404  no job by that id or name
    └── AmbiguousError          409  a name several jobs share (`ids` lists them)
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from nemowatch.jobs.events import EventBus

#: how a failed job is put back in line: at its last safe step (""), sending its paid
#: turn again ("resend"), or from the very start ("start-over")
RetryHow = Literal["", "resend", "start-over"]
RETRY_HOWS: tuple[RetryHow, ...] = ("", "resend", "start-over")


class Control(Protocol):
    """The running daemon, as the local API sees it.

    `status()` runs on the event loop (keep it cheap: build it from what the status
    board holds); `history()` waits for the rows of the jobs that ended a moment ago,
    then reads SQLite off the loop. The actions run on the event loop and answer with one
    sentence for the person ("Paused: ..."), or raise `NotFoundError`,
    `AmbiguousError` or another `UsageError`.
    """

    @property
    def bus(self) -> EventBus:
        """The job events; the server subscribes to it before the daemon starts it."""
        ...

    def status(self) -> dict[str, Any]:
        """`running`, `pid`, `conditions` [{`name`, `reason`, `since`}], `jobs` [{`id`,
        `name`, `stage`, `doing`, `since`, `progress`}], `waiting` [{`path`, `reason`}],
        `credits` (the server adds `"schema": 1`)."""
        ...

    async def history(
        self,
        failed: bool,
        since_days: float | None,
        limit: int | None,
        offset: int,
        search: str | None,
    ) -> list[dict[str, Any]]:
        """Finished jobs, newest first, each as `Entry.to_json()` gives it; a job
        delivered a moment ago is among them."""
        ...

    async def pause(self) -> str:
        """Hold all new work (kept across restarts)."""
        ...

    async def resume(self) -> str:
        """Release it, and check every condition at once."""
        ...

    async def cancel(self, id_or_name: str) -> str:
        """Stop a job (or a waiting file) at its next checkpoint.

        Raises:
            NotFoundError: no job or waiting file by that id or name.
            AmbiguousError: several jobs have that name.
        """
        ...

    async def retry(self, name: str, how: RetryHow) -> str:
        """Put a failed job back in line (`how`: see `RetryHow`).

        Raises:
            NotFoundError: no failed job by that name.
            AmbiguousError: several failed jobs have that name.
        """
        ...

    async def retry_all(self) -> str:
        """Put every failed job back in line, each at its last safe step."""
        ...
