"""Taking work from the inbox: plan, claim, and what a claim that fails means.

A claim renames the job's files into the work folder. When that fails, the
cause decides what happens, and the daemon goes on in every case:

- the work folder is full, read-only, not writable, or on another filesystem:
  the condition "disk" holds every claim (`disk.py`); the files stay put;
- the inbox is gone: the condition "folder missing" (`folderwatch.py`);
- one job's own files cannot be moved (a read-only bundle copied from a DVD, a
  file of another owner, an immutable file): that job waits in the inbox with
  the reason, looked at again when it changes or at the next rescan, while
  every other job goes on.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nemowatch.conditions import Conditions, Work
from nemowatch.config import FolderSettings, Settings
from nemowatch.disk import DENIED, DiskWatch, is_disk_error
from nemowatch.folderwatch import FolderWatch
from nemowatch.hotfolders import HotFolders
from nemowatch.jobs.claim import claim, request_for
from nemowatch.jobs.journal import JobFolder
from nemowatch.watch.inbox import Inbox
from nemowatch.watch.observer import InboxWatcher, WatchEvent
from nemowatch.watch.rules import Candidate, Waiting

log = logging.getLogger("nemowatch")

#: what a claim asks of the work folder's disk: a journal and a log
CLAIM_NEED = 1024 * 1024


@dataclass
class _Refused:
    reason: str
    #: the (size, mtime_ns) of each file when refused: a change earns another try
    seen: tuple[tuple[Path, int, int], ...]


class Intake:
    """The inbox side: its watcher, its table, the folders' presence, and the claims.

    Args:
        settings: the settings at start (the folders are fixed until a restart).
        folders: the folders in force.
        conditions: the registry (what holds claims).
        disk: where a full or unwritable work folder is reported.
        on_event: called on the event loop with each of the watcher's events.
        on_claimed: called with each new job folder and the job's name.
        rescan: asks the daemon for a rescan (the inbox came back).
    """

    def __init__(
        self,
        settings: Settings,
        conditions: Conditions,
        disk: DiskWatch,
        *,
        on_event: Callable[[WatchEvent], None],
        on_claimed: Callable[[JobFolder, str], None],
        rescan: Callable[[], None],
    ) -> None:
        folders = settings.folders
        self._folders: Callable[[], FolderSettings] = lambda: folders
        self._settings = settings
        self._conditions = conditions
        self._disk = disk
        self._on_claimed = on_claimed
        self._rescan = rescan
        self._refused: dict[str, _Refused] = {}
        self.hot = HotFolders(time.monotonic)
        self.hot.sync(settings)
        self.inbox = Inbox(
            folders.inbox,
            folders.work_dir,
            settings.watch,
            time.monotonic,
            skip=(folders.outbox, folders.failed, *self.hot.folders()),
        )
        self.watcher = InboxWatcher(
            folders.inbox,
            polling=settings.watch.polling,
            on_event=on_event,
            work_dir=folders.work_dir,
        )
        self.folders = FolderWatch(
            conditions,
            self._folders,
            on_inbox_back=self._rearm,
            watcher_alive=self.watcher.alive,
            restart_watcher=self._rearm,
        )
        self._inbox = self.inbox

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.hot.make(self._settings)  # the inbox may have been made only now (a first start)
        self.watcher.start(loop)
        self.inbox.scan()
        self.hot.scan()

    def reconfigure(self, settings: Settings) -> None:
        """A reload: new `[watch]` values, and presets added or removed."""
        folders = settings.folders
        self.inbox.reconfigure(settings.watch)
        self.hot.sync(settings)
        self.inbox.skip((folders.outbox, folders.failed, *self.hot.folders()))
        self._settings = settings
        self._rescan()

    def stop(self) -> None:
        self.watcher.stop()

    def note(self, event: WatchEvent) -> None:
        table = self.hot.table_of(event.path) or self.inbox
        table.note(event.path, closed=event.closed, at=event.at)
        self._disk.check_soon()  # someone is at work there: maybe space was freed

    def rescan(self) -> None:
        """Look at the whole inbox again; refused jobs get another try."""
        self._refused.clear()
        if self.folders.check():
            self.inbox.scan()
            self.hot.make(self._settings)  # a hot folder removed meanwhile is made again
            self.hot.scan()

    def _rearm(self) -> None:
        """The inbox is a folder again (or its watcher died): watch it afresh, scan it."""
        try:
            self.watcher.restart()
        except OSError as exc:
            log.error("cannot watch the inbox again yet: %s", exc)
        self._rescan()

    def plan_and_claim(self, stopping: Callable[[], bool]) -> tuple[list[Waiting], float | None]:
        """Claim each ready job; the waiting files (with why) and the inbox's next look."""
        plans = [self._inbox.plan()] + [table.plan() for _, table in self.hot]
        waiting = [w for plan in plans for w in plan.waiting]
        wakes = [plan.wake_at for plan in plans if plan.wake_at is not None]
        held = self._conditions.blocking(Work.CLAIMS)
        for ready in (ready for plan in plans for ready in plan.ready):
            refused = self._refused.get(ready.name)
            if refused is not None and refused.seen == ready.seen_as:
                waiting.append(Waiting(ready.folder or ready.media[0], refused.reason))
                continue
            if stopping():
                continue
            if held is not None:  # the files wait where they are, with the condition's reason
                waiting.append(Waiting(ready.folder or ready.media[0], held.reason))
                continue
            why = self._claim(ready)
            if why is not None:
                self._refused[ready.name] = _Refused(why, ready.seen_as)
                waiting.append(Waiting(ready.folder or ready.media[0], why))
            held = self._conditions.blocking(Work.CLAIMS)
        return waiting, min(wakes, default=None)

    def _claim(self, ready: Candidate) -> str | None:
        """Claim one job; None when claimed (or dropped), else why it must wait."""
        work_dir = self._folders().work_dir
        try:
            folder = claim(request_for(ready), work_dir)
        except OSError as exc:
            return self._claim_failed(ready, exc, work_dir)
        self._refused.pop(ready.name, None)
        table = self.hot.tables.get(ready.preset or "", self._inbox)
        table.forget([ready.folder] if ready.folder else ready.files)
        if folder is not None:
            self._on_claimed(folder, ready.name)
        return None

    def _claim_failed(self, ready: Candidate, exc: OSError, work_dir: Path) -> str | None:
        if is_disk_error(exc) or exc.errno == errno.EXDEV:
            self._disk.report(work_dir, exc, need=CLAIM_NEED)
            return None
        if exc.errno in DENIED and not os.access(work_dir, os.W_OK | os.X_OK):
            self._disk.report(work_dir, exc)
            return None
        item = ready.folder or ready.media[0]
        what = "its folder" if ready.folder else "it"
        reason = (
            f"cannot be moved into the work folder ({exc.strerror or exc}): {what} may be "
            "read-only, immutable or another user's; copy it into the inbox as the user "
            "nemowatch runs as"
        )
        log.warning("%s %s", item, reason)
        return reason
