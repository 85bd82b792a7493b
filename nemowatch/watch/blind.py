"""watchdog's inotify observer, without a watch on the work folder.

The work folder lies inside the inbox (`<inbox>/.nemowatch`, so that a claim
is one rename), and the inbox is watched recursively. Every journal write of
every job (a temporary file written, closed, renamed over `job.json`) then
reached watchdog's reader, its move grouper and its dispatch thread, only to
be dropped by our handler: at a thousand jobs that traffic, and the thread
switches it costs, were a large share of the daemon's CPU.

inotify cannot leave a sub-folder out of a watch: a watch is per folder, and
watchdog adds one for each folder it finds or sees appear. This observer
skips the one for the work folder, so nothing below it is ever watched. The
work folder's own creation, removal or rename is still seen from the inbox's
watch. Where watchdog's internals are not the ones this was written against,
`observer(...)` returns the stock observer: the work folder's events are then
dropped by the handler as before; only the CPU differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

try:  # watchdog 7.1's layout; older and newer ones get the stock observer
    from watchdog.observers.inotify import InotifyEmitter, InotifyObserver, InotifyWatchGroup

    _LAYOUT = True
except ImportError:  # pragma: no cover - another watchdog
    _LAYOUT = False


def observer(skip: Path) -> BaseObserver:
    """An inotify observer that never watches `skip` or below, where it can be built."""
    if not (_LAYOUT and _fits()):
        return Observer()
    return _BlindObserver(os.fsencode(skip))


def _fits() -> bool:
    """Whether watchdog has the hooks this module overrides (checked, not assumed)."""
    return (
        hasattr(InotifyWatchGroup, "_add_callback")
        and hasattr(InotifyEmitter, "get_event_mask_from_filter")
        and "_inotify" in InotifyEmitter.__init__.__code__.co_names
        and "_emitter_class" in BaseObserver.__init__.__code__.co_names
    )


if _LAYOUT:

    @dataclass
    class _BlindGroup(InotifyWatchGroup):
        """A recursive watch group that adds no watch at `skip` or below it."""

        skip: bytes = b""

        def _add_callback(self, path: bytes) -> None:
            if path == self.skip or path.startswith(self.skip + b"/"):
                return
            super()._add_callback(path)

    class _BlindEmitter(InotifyEmitter):
        skip: bytes = b""

        def on_thread_start(self) -> None:
            self._inotify = _BlindGroup(
                self._inotify_fd,
                os.fsencode(self.watch.path),
                is_recursive=self.watch.is_recursive,
                event_mask=self.get_event_mask_from_filter(),
                follow_symlink=self.watch.follow_symlink,
                skip=self.skip,
            )

    class _BlindObserver(InotifyObserver):
        def __init__(self, skip: bytes, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._emitter_class = type("_BlindEmitterFor", (_BlindEmitter,), {"skip": skip})
