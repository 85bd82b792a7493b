"""The bridge from watchdog's thread to the asyncio event loop.

watchdog calls its handler on its own thread. The handler here does the
least it can: it turns the event into `WatchEvent`s (no I/O, no shared
state) and hands each to the loop with `loop.call_soon_threadsafe`. All real
work, `lstat`s and planning, then happens on the loop thread in `Inbox`.

Only the events that say an entry appeared, was written and closed, or went
away are asked for. Per-write modification events are not: there is one per
`write()`, and `Inbox.plan()` looks at a job's files again before calling
it ready, so nothing depends on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
from watchdog.observers.polling import PollingObserver

from nemowatch.watch import blind

#: what the watcher asks watchdog for (inotify is told to report only these)
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileMovedEvent,
    DirMovedEvent,
]

#: watchdog's inotify observer warns when a folder and a sub-folder of it
#: appear together (`mkdir -p`, `cp -r`): both its walk and the sub-folder's
#: own event add the same callback, and the second add changes nothing. Under
#: `-W error` (as in the test suite) that warning kills watchdog's reader
#: thread and the inbox goes deaf, so it is silenced, and only it.
BENIGN_WATCHDOG_WARNING = r"Callback with id .* already exists for watch"
#: how long watchdog holds a "moved from" while it looks for the matching "moved to".
#: Its default, 0.5 s, holds every later event too (the queue is in order), and each
#: claim is such an unmatched move (out of the inbox into the work folder, whose
#: events are dropped), so a drop right after a claim waited up to half a second;
#: the held moves also made watchdog's linear queue search the daemon's biggest CPU
#: cost at scale. The kernel reports both halves of a rename back to back: 50 ms is
#: ample.
#:
#: (One recursive watch stays: a watch per bundle folder would cost watchdog an
#: inotify instance and a thread per folder, and the default limit is 128.)
MOVE_PAIRING_SECONDS = 0.05
#: watchdog 7 logs this at ERROR when its emitter loops once more after stop();
#: nothing is lost (the observer is being stopped on purpose)
BENIGN_WATCHDOG_ERROR = "called when the thread is inactive"


class _BenignStopNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return BENIGN_WATCHDOG_ERROR not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_BenignStopNoise())


@dataclass(frozen=True)
class WatchEvent:
    """Something happened to `path`: it appeared or changed, was closed after writing, or went."""

    path: Path
    closed: bool = False
    removed: bool = False
    #: when it arrived (monotonic; 0: not stamped): the settle time counts from
    #: here, not from when a batch of events is looked at
    at: float = field(default=0.0, compare=False)


def translate(event: FileSystemEvent, at: float = 0.0) -> list[WatchEvent]:
    """The `WatchEvent`s for one watchdog event (arrived `at`); a move is a removal and a
    creation."""
    src = Path(os.fsdecode(event.src_path))
    if isinstance(event, FileMovedEvent | DirMovedEvent):
        dest = Path(os.fsdecode(event.dest_path))
        return [WatchEvent(src, removed=True, at=at), WatchEvent(dest, at=at)]
    if isinstance(event, FileDeletedEvent | DirDeletedEvent):
        return [WatchEvent(src, removed=True, at=at)]
    if isinstance(event, FileClosedEvent):
        return [WatchEvent(src, closed=True, at=at)]
    if isinstance(event, FileCreatedEvent | DirCreatedEvent):
        return [WatchEvent(src, at=at)]
    return []


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's thread: translate, filter by path prefix, hand to the loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[WatchEvent], None],
        skip: Path,
    ) -> None:
        self._loop = loop
        self._on_event = on_event
        self._skip = skip
        self._prefix = str(skip) + os.sep

    def on_any_event(self, event: FileSystemEvent) -> None:
        if _under(event.src_path, self._prefix) and _under(event.dest_path, self._prefix):
            return  # cheaply, before any Path is built: most events are the work folder's
        for item in translate(event, time.monotonic()):
            if item.path == self._skip or item.path.is_relative_to(self._skip):
                continue  # the work folder: journals and claimed files, never new work
            # The loop may already be closed while the observer winds down.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._on_event, item)


def _under(path: bytes | str, prefix: str) -> bool:
    """Whether an event's path (or its empty dest_path) lies below `prefix`."""
    return not path or os.fsdecode(path).startswith(prefix)


class InboxWatcher:
    """Watches the inbox and its sub-folders and calls `on_event` on the event loop.

    Args:
        inbox: the folder to watch, recursively (bundles are sub-folders).
        polling: use watchdog's polling observer (NFS/SMB inboxes, `watch.polling`).
        on_event: called on the loop thread, once per `WatchEvent`.
        work_dir: events under it are dropped; default `<inbox>/.nemowatch`.
        poll_seconds: the polling observer's interval.
    """

    def __init__(
        self,
        inbox: Path,
        *,
        polling: bool,
        on_event: Callable[[WatchEvent], None],
        work_dir: Path | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self._inbox = inbox
        self._polling = polling
        self._on_event = on_event
        self._work_dir = work_dir if work_dir is not None else inbox / ".nemowatch"
        self._poll_seconds = poll_seconds
        self._observer: BaseObserver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start watching; events reach `on_event` on `loop`.

        Raises:
            OSError: the inbox cannot be watched (missing, or the inotify limit is reached).
        """
        if self._observer is not None:
            raise RuntimeError("the inbox watcher is already started")
        # Filters are global and a test's warning context is rebuilt per test,
        # so this is set at every start, not once at import.
        warnings.filterwarnings("ignore", BENIGN_WATCHDOG_WARNING, RuntimeWarning)
        # Observers are built here, not in __init__: the inotify one starts a
        # reader thread as soon as it exists, and only stop() ends it.
        InotifyMoveEventGrouper.delay = MOVE_PAIRING_SECONDS
        # Checked first: watchdog 7 starts an inotify reader before it finds the
        # folder missing, and a stop() racing that reader's start leaks its descriptors.
        if not self._inbox.is_dir():
            raise FileNotFoundError(errno.ENOENT, "the inbox is not a folder", str(self._inbox))
        observer = (
            PollingObserver(timeout=self._poll_seconds)
            if self._polling
            else blind.observer(self._work_dir)  # no inotify watch on the work folder
        )
        handler = _Handler(loop, self._on_event, self._work_dir)
        try:
            observer.schedule(
                handler, str(self._inbox), recursive=True, event_filter=WATCHED_EVENTS
            )
            observer.start()
        except BaseException:
            observer.stop()  # also ends the threads of a half-started observer
            raise
        self._observer, self._loop = observer, loop

    def alive(self) -> bool:
        """Whether watchdog's threads (the observer and each folder's emitter) still run."""
        observer = self._observer
        if observer is None:
            return False
        return observer.is_alive() and all(e.is_alive() for e in observer.emitters)

    def restart(self) -> None:
        """Watch afresh (the inbox came back, or a thread died); the inbox must be there.

        Raises:
            OSError: the inbox cannot be watched.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("the inbox watcher was never started")
        self.stop()
        self.start(loop)

    def stop(self) -> None:
        """Stop watching and join watchdog's threads; safe to call more than once."""
        observer, self._observer = self._observer, None
        if observer is None:
            return
        observer.stop()
        observer.join()


async def events(queue: asyncio.Queue[WatchEvent]) -> AsyncIterator[WatchEvent]:
    """The events put on `queue` (e.g. `on_event=queue.put_nowait`), forever."""
    while True:
        yield await queue.get()


def drain(queue: asyncio.Queue[WatchEvent]) -> list[WatchEvent]:
    """Everything already queued, without waiting: one plan per burst, not per event."""
    batch: list[WatchEvent] = []
    while not queue.empty():
        batch.append(queue.get_nowait())
    return batch
