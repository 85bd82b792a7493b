"""What the local API asks of the running daemon: its status, and the orders it takes.

- `pause`: the condition "paused" holds claims and new API steps (a running step
  reaches its checkpoint first); kept in `<state>/paused` across restarts until
  `resume`.
- `resume`: releases "paused" and probes every condition at once, so a top-up
  takes effect now rather than at the next credit check.
- `cancel ID-or-NAME`: a job of the daemon stops at its next checkpoint (its
  originals to the failed folder, marked cancelled; nothing more is sent); a
  file waiting in the inbox is set aside into the failed folder the same way.
- `retry NAME` / `retry_all`: the files are put back as `nemowatch retry` does,
  and the daemon takes them at once rather than at the next rescan.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from nemowatch.conditions import Conditions, Work
from nemowatch.config import Settings
from nemowatch.errors import AmbiguousError, NotFoundError
from nemowatch.fsutil import write_atomic
from nemowatch.history import History
from nemowatch.jobs.events import EventBus
from nemowatch.jobs.finish import ERROR_FILE
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.results import fitting_stem, free_name, glob_escape
from nemowatch.retry import Mode, retry, retry_all
from nemowatch.status import Snapshot
from nemowatch.watch.rules import Waiting
from nemowatch.workers import WorkerPool

log = logging.getLogger("nemowatch")

PAUSED = "paused"
PAUSE_FILE = "paused"
MODES = {"": Mode.RESUME, "resend": Mode.RESEND, "start-over": Mode.START_OVER}


class DaemonControl:
    """The daemon's side of the local API.

    Args:
        settings: the settings in force.
        conditions: the registry ("paused" is one of its conditions).
        pool: the jobs queued, running or held.
        bus: the job events (the API's live feed subscribes to it).
        snapshot: the status board's view of now.
        waiting: the files waiting in the inbox, with why.
        adopt: take the jobs put back into the work folder now.
        refresh_credits: read the balance (on `resume`).
        history: the finished jobs.
    """

    def __init__(
        self,
        settings: Callable[[], Settings],
        conditions: Conditions,
        pool: WorkerPool,
        bus: EventBus,
        *,
        snapshot: Callable[[], Snapshot],
        waiting: Callable[[], list[Waiting]],
        adopt: Callable[[], None],
        refresh_credits: Callable[[], Awaitable[float | None]],
        history: History,
    ) -> None:
        self.settings = settings
        self._conditions = conditions
        self._pool = pool
        self.bus = bus
        self._snapshot = snapshot
        self._waiting = waiting
        self._adopt = adopt
        self._refresh_credits = refresh_credits
        self._history = history

    # -- what the API shows ---------------------------------------------------

    def status(self) -> dict[str, Any]:
        snap = self._snapshot()
        return {
            "running": True,
            "pid": snap.pid,
            "started": snap.started_at,
            "conditions": [
                {"name": c["name"], "reason": c["reason"], "since": c["since"]}
                for c in snap.conditions
            ],
            "jobs": [
                {
                    "id": j.id,
                    "name": j.name,
                    "stage": j.stage,
                    "doing": f"held: {j.held}" if j.held else j.progress or j.stage,
                    "since": j.since,
                    "progress": j.progress,
                }
                for j in snap.jobs
            ],
            "queued": snap.queued,
            "waiting": snap.waiting,
            "credits": snap.credits,
        }

    async def history(
        self,
        failed: bool = False,
        since_days: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        await self._history.settled()  # a job delivered a moment ago is in it
        found = await asyncio.to_thread(
            self._history.jobs, failed, since_days, limit, offset, search
        )
        return [entry.to_json() for entry in found]

    # -- orders ---------------------------------------------------------------

    def restore_pause(self) -> None:
        """At start: a pause asked for before the restart still holds."""
        path = self._pause_file()
        if path.exists():
            self._raise_pause(path.stat().st_mtime)

    async def pause(self) -> str:
        path = self._pause_file()
        if self._conditions.get(PAUSED) is not None:
            return "already paused; `nemowatch resume` goes on"
        try:
            write_atomic(path, f"{time.time()}\n".encode())
        except OSError as exc:
            log.warning("the pause will not outlive a restart: %s", exc)
        self._raise_pause(time.time())
        return "paused: no new job is taken and no new step starts; `nemowatch resume` goes on"

    async def resume(self) -> str:
        self._pause_file().unlink(missing_ok=True)
        was_paused = self._conditions.get(PAUSED) is not None
        self._conditions.release(PAUSED)
        await self._refresh_credits()
        await self._conditions.probe()  # a top-up, a network back: released now
        left = [c.reason for c in self._conditions.active()]
        said = "resumed" if was_paused else "not paused"
        return f"{said}; still waiting: {'; '.join(left)}" if left else f"{said}; nothing holds"

    async def cancel(self, id_or_name: str) -> str:
        work_dir = self.settings().folders.work_dir
        jobs = {name: _job_name(work_dir / name) for name in sorted(self._pool.present)}
        matches = [i for i, name in jobs.items() if id_or_name in (i, name)]
        waiting = [w for w in self._waiting() if id_or_name in (w.path.stem, w.path.name)]
        if len(matches) + len(waiting) > 1:
            ids = matches + [str(w.path) for w in waiting]
            raise AmbiguousError(f"{id_or_name!r} names {len(ids)} jobs; give one id", ids=ids)
        if matches:
            self._pool.request_cancel(matches[0])
            return f"{jobs[matches[0]]} ({matches[0]}) stops at its next checkpoint"
        if waiting:
            return self._set_aside(waiting[0])
        raise NotFoundError(f"no job or waiting file named {id_or_name!r}")

    async def retry(self, name: str, how: Literal["", "resend", "start-over"] = "") -> str:
        done = retry(self.settings(), name, MODES[how], lambda cost: True)
        self._adopt()
        return (done or name).replace("within watch.rescan_seconds", "now")

    async def retry_all(self) -> str:
        said = retry_all(self.settings())
        self._adopt()
        return said

    # -- inside -----------------------------------------------------------------

    def _pause_file(self) -> Path:
        return self.settings().folders.state_dir / PAUSE_FILE

    def _raise_pause(self, since: float) -> None:
        when = time.strftime("%H:%M", time.localtime(since))
        reason = f"paused with `nemowatch pause` since {when}: `nemowatch resume` goes on"
        self._conditions.raise_(PAUSED, reason, Work.CLAIMS | Work.API)

    def _set_aside(self, waiting: Waiting) -> str:
        """A file (or bundle) still waiting in the inbox goes to the failed folder."""
        failed = self.settings().folders.failed
        name = waiting.path.stem if waiting.path.is_file() else waiting.path.name
        text = (
            f"Cancelled with `nemowatch cancel` while it waited in the inbox "
            f"({waiting.reason}); nothing was sent.\n\n"
            f"What to do: move the files back into the inbox to try again.\n"
        )
        target = free_name(failed, fitting_stem(failed, name))
        target.mkdir(parents=True)
        (target / ERROR_FILE).write_text(text, encoding="utf-8")  # never seen without it
        paths = [waiting.path] + [
            p for p in waiting.path.parent.glob(f"{glob_escape(name)}.*") if p != waiting.path
        ]
        for path in paths if waiting.path.is_file() else [waiting.path]:
            shutil.move(str(path), target / path.name)
        log.info("%s: set aside into %s (cancelled while waiting)", waiting.path, target)
        return f"{waiting.path.name} set aside into {target}"


def _job_name(path: Path) -> str:
    try:
        return JobFolder(path).load().name
    except Exception:  # noqa: BLE001 - a journal being rewritten: the id still matches
        return path.name
