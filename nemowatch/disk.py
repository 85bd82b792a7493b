"""The condition "disk": a folder nemowatch writes to is full, read-only or not its own.

A write that fails for a cause of the folder (no space, a read-only filesystem,
no permission in the folder itself, a work folder on another filesystem than
the inbox) is not the job's fault: the job waits where it stands, and the
condition holds the work that writes there, until the folder takes writes
again:

| folder | holds |
|---|---|
| work folder (journals, claims) | claims, all API work, deliveries |
| inbox | claims |
| outbox, archive, failed folder | deliveries (downloads, reports, moves) |
| state folder (token cache, status, history) | nothing: what cannot be saved is kept in memory |

It is checked again every `watch.disk_check_seconds` and at once on a watcher
event (`check_soon`): a probe writes a small file in each folder in trouble and
checks that the free space covers what was needed. `status` shows the free
space and the need.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nemowatch.conditions import Condition, Conditions, Work
from nemowatch.config import FolderSettings

log = logging.getLogger("nemowatch")

DISK = "disk"
FULL = {errno.ENOSPC, errno.EDQUOT}
READ_ONLY = {errno.EROFS}
DENIED = {errno.EACCES, errno.EPERM}
#: what a probe writes, and the free space always asked for besides a known need
PROBE_BYTES = 4096
MARGIN = 1024 * 1024
MB = 1024 * 1024

#: what each folder in trouble holds
HOLDS = {
    "work folder": Work.CLAIMS | Work.API | Work.DELIVERIES,
    "inbox": Work.CLAIMS,
    "outbox": Work.DELIVERIES,
    "archive": Work.DELIVERIES,
    "failed folder": Work.DELIVERIES,
    "state folder": Work(0),
}


def is_disk_error(exc: BaseException) -> bool:
    """A write failed for a cause of the disk, not of the file: full or read-only."""
    return isinstance(exc, OSError) and exc.errno in FULL | READ_ONLY


def roles(folders: FolderSettings) -> dict[str, Path]:
    """nemowatch's folders by the name a person knows them by."""
    return {
        "inbox": folders.inbox,
        "work folder": folders.work_dir,
        "outbox": folders.outbox,
        "archive": folders.archive_dir,
        "failed folder": folders.failed,
        "state folder": folders.state_dir,
    }


def role_of(path: Path | str, folders: FolderSettings) -> str | None:
    """Which of nemowatch's folders `path` lies in (the innermost one), if any."""
    where = os.path.abspath(path)
    best: tuple[int, str] | None = None
    for role, folder in roles(folders).items():
        root = os.path.abspath(folder)
        if where == root or where.startswith(root + os.sep):
            if best is None or len(root) > best[0]:
                best = (len(root), role)
    return best[1] if best else None


@dataclass
class Trouble:
    role: str
    folder: Path
    errno: int | None
    need: int = 0

    def describe(self) -> str:
        where = f"the {self.role} ({self.folder})"
        if self.errno == errno.EXDEV:
            return (
                f"{where} is on another filesystem than the inbox: claims are renames; "
                "set folders.work to a folder on the inbox's disk"
            )
        if self.errno in READ_ONLY:
            return f"{where} is on a read-only filesystem: remount it read-write"
        if self.errno in DENIED:
            return f"{where} cannot be written (permission denied): give nemowatch's user access"
        free = free_bytes(self.folder)
        shown = f"{free / MB:.0f} MB free" if free is not None else "free space unknown"
        need = f", about {self.need / MB:.0f} MB needed" if self.need else ""
        return f"{where} is full ({shown}{need}): free some space"

    def passes(self) -> bool:
        """The folder takes writes again (and has room for the need)."""
        if self.errno == errno.EXDEV:
            return False  # only a restart with another folders.work mends it
        free = free_bytes(self.folder)
        if free is None or free < self.need + MARGIN:
            return False
        return writable(self.folder)


def free_bytes(folder: Path) -> int | None:
    try:
        info = os.statvfs(folder)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def writable(folder: Path) -> bool:
    """Whether a small file can be written in `folder` (and is removed again)."""
    try:
        handle, name = tempfile.mkstemp(prefix=".nemowatch-probe-", dir=folder)
    except OSError:
        return False
    try:
        os.write(handle, b"\0" * PROBE_BYTES)
        return True
    except OSError:
        return False
    finally:
        os.close(handle)
        Path(name).unlink(missing_ok=True)


class DiskWatch:
    """Raises "disk" for the folders in trouble, probes them, releases the work.

    Args:
        conditions: the registry.
        folders: the folders in force.
        every: seconds between two probes while the condition is active.
    """

    def __init__(
        self, conditions: Conditions, folders: Callable[[], FolderSettings], every: float = 30.0
    ) -> None:
        self._conditions = conditions
        self._folders = folders
        self.every = every
        self._troubles: dict[str, Trouble] = {}
        self._task: asyncio.Task[None] | None = None
        self._soon = asyncio.Event()
        conditions.set_probe(DISK, self.probe)

    def report(self, path: Path | str, exc: OSError, *, need: int = 0) -> Condition:
        """A write under `path` failed for a cause of its folder: raise (or widen) "disk"."""
        folders = self._folders()
        role = role_of(path, folders) or "work folder"
        folder = roles(folders)[role]
        known = self._troubles.get(role)
        self._troubles[role] = Trouble(
            role, folder, exc.errno, max(need, known.need if known else 0)
        )
        log.warning("cannot write in the %s (%s): %s", role, folder, exc.strerror or exc)
        condition = self._raise()
        self._watch()
        return condition

    def check_soon(self) -> None:
        """Probe at once (a watcher event: someone may have freed space)."""
        if self._troubles:
            self._soon.set()

    async def probe(self) -> bool:
        """Drop the troubles that passed; True once none is left."""
        for role, trouble in list(self._troubles.items()):
            if await asyncio.to_thread(trouble.passes):
                log.info("the %s takes writes again", role)
                del self._troubles[role]
        if self._troubles:
            self._raise()
        return not self._troubles

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _raise(self) -> Condition:
        holds = Work(0)
        for trouble in self._troubles.values():
            holds |= HOLDS[trouble.role]
        reason = "; ".join(t.describe() for t in self._troubles.values())
        return self._conditions.raise_(DISK, reason, holds)

    def _watch(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._probe_until_clear(), name="disk-probe")

    async def _probe_until_clear(self) -> None:
        while self._conditions.get(DISK) is not None:
            self._conditions.schedule(DISK, self._conditions.now() + self.every)
            self._soon.clear()
            try:
                await asyncio.wait_for(self._soon.wait(), self.every)
            except TimeoutError:
                pass
            if await self.probe():
                self._conditions.release(DISK)
                return
