"""The condition "folder missing", and a watcher that must stay alive.

The inbox, the outbox or the failed folder can vanish under a running daemon:
deleted, renamed, or an unplugged drive (its mount point left as a dangling
link, or an empty folder on the wrong disk would be worse, so nemowatch never
re-creates them once it runs). A missing inbox holds claims; a missing outbox
or failed folder holds deliveries. They are looked at every
`watch.folder_check_seconds`, and at once when a write there fails; once the
inbox is back, the watcher is armed again and the inbox scanned.

The same look checks that watchdog's threads still run: if they died (a bug,
an inotify error), the watcher is restarted and the incident logged, so drops
are seen in seconds again rather than at the next rescan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from nemowatch.conditions import Conditions, Work
from nemowatch.config import FolderSettings

log = logging.getLogger("nemowatch")

MISSING = "folder missing"

#: the folders looked after, and what each one's absence holds
WATCHED = {"inbox": Work.CLAIMS, "outbox": Work.DELIVERIES, "failed folder": Work.DELIVERIES}


def absence(path: Path) -> str | None:
    """Why `path` is not a usable folder, or None when it is one."""
    if path.is_dir():
        return None
    if path.is_symlink():
        target = os.readlink(path)
        return f"is a link to {target}, which is missing (an unplugged drive?)"
    if path.exists():
        return "is a file, not a folder"
    return "is missing (deleted, renamed, or its drive unplugged)"


class FolderWatch:
    """Raises and releases "folder missing"; restarts a dead watcher.

    Args:
        conditions: the registry.
        folders: the folders in force.
        on_inbox_back: called once the inbox is a folder again (arm the watcher, scan).
        watcher_alive: whether the inbox watcher's threads run.
        restart_watcher: stop and start the inbox watcher again.
    """

    def __init__(
        self,
        conditions: Conditions,
        folders: Callable[[], FolderSettings],
        *,
        on_inbox_back: Callable[[], None],
        watcher_alive: Callable[[], bool],
        restart_watcher: Callable[[], None],
    ) -> None:
        self._conditions = conditions
        self._folders = folders
        self._on_inbox_back = on_inbox_back
        self._watcher_alive = watcher_alive
        self._restart_watcher = restart_watcher
        self._missing: dict[str, str] = {}

    def check(self) -> bool:
        """Look at the folders (and the watcher); True when all are there."""
        folders = self._folders()
        paths = {"inbox": folders.inbox, "outbox": folders.outbox, "failed folder": folders.failed}
        before = dict(self._missing)
        self._missing = {}
        for role, path in paths.items():
            why = absence(path)
            if why is not None:
                self._missing[role] = f"the {role} {path} {why}"
        for role in before.keys() - self._missing.keys():
            log.info("the %s is back: %s", role, paths[role])
        if "inbox" in before and "inbox" not in self._missing:
            self._on_inbox_back()
        elif "inbox" not in self._missing and not self._watcher_alive():
            log.error("the inbox watcher had stopped; restarted (drops are seen at once again)")
            self._restart_watcher()
        self._update()
        return not self._missing

    def missing(self, role: str) -> bool:
        return role in self._missing

    def _update(self) -> None:
        if not self._missing:
            self._conditions.release(MISSING)
            return
        holds = Work(0)
        for role in self._missing:
            holds |= WATCHED[role]
        waits = "claims" if holds == Work.CLAIMS else "deliveries"
        if holds == Work.CLAIMS | Work.DELIVERIES:
            waits = "claims and deliveries"
        reason = "; ".join(self._missing.values()) + f": {waits} wait until it is back"
        self._conditions.raise_(MISSING, reason, holds)
