"""A real watchdog observer on a temporary inbox, its events delivered on the event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from watchdog.events import (
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from nemowatch.watch.observer import InboxWatcher, WatchEvent, drain, events, translate

Received = tuple[WatchEvent, int]


class Watched:
    """A started watcher and the queue its events land in, with the loop thread's id."""

    def __init__(self, inbox: Path, queue: asyncio.Queue[Received], watcher: InboxWatcher) -> None:
        self.inbox = inbox
        self.queue = queue
        self.watcher = watcher

    async def wait_for(self, match: Callable[[WatchEvent], bool], timeout: float = 5) -> Received:
        """The first event that matches, skipping others; fails after `timeout` seconds."""

        async def first() -> Received:
            while True:
                received = await self.queue.get()
                if match(received[0]):
                    return received

        return await asyncio.wait_for(first(), timeout)


async def start(tmp_path: Path, *, polling: bool) -> Watched:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    queue: asyncio.Queue[Received] = asyncio.Queue()

    def on_event(event: WatchEvent) -> None:
        queue.put_nowait((event, threading.get_ident()))

    watcher = InboxWatcher(inbox, polling=polling, on_event=on_event, poll_seconds=0.05)
    watcher.start(asyncio.get_running_loop())
    return Watched(inbox, queue, watcher)


@pytest.fixture(params=[False, True], ids=["inotify", "polling"])
async def watched(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Watched]:
    running = await start(tmp_path, polling=request.param)
    try:
        yield running
    finally:
        running.watcher.stop()


@pytest.fixture
async def inotify(tmp_path: Path) -> AsyncIterator[Watched]:
    running = await start(tmp_path, polling=False)
    try:
        yield running
    finally:
        running.watcher.stop()


async def test_a_written_file_is_reported_on_the_loop_thread(watched: Watched) -> None:
    path = watched.inbox / "clip.mp4"
    path.write_bytes(b"x" * 1000)
    event, thread = await watched.wait_for(lambda e: e.path == path and not e.removed)
    assert thread == threading.get_ident()


async def test_closing_a_written_file_gives_a_closed_event(inotify: Watched) -> None:
    path = inotify.inbox / "clip.mp4"
    with path.open("wb") as f:
        f.write(b"x" * 1000)
    event, thread = await inotify.wait_for(lambda e: e.closed)
    assert event == WatchEvent(path, closed=True)
    assert thread == threading.get_ident()


async def test_a_rename_into_the_real_name_is_reported(watched: Watched) -> None:
    part = watched.inbox / "x.part"
    part.write_bytes(b"x")
    await watched.wait_for(lambda e: e.path == part)
    part.rename(watched.inbox / "x.mp4")
    await watched.wait_for(lambda e: e == WatchEvent(watched.inbox / "x.mp4"))


async def test_a_move_from_outside_is_reported(watched: Watched, tmp_path: Path) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"x" * 10)
    outside.rename(watched.inbox / "moved.mp4")
    await watched.wait_for(lambda e: e == WatchEvent(watched.inbox / "moved.mp4"))


async def test_a_bundle_folder_and_its_files_are_reported(watched: Watched, tmp_path: Path) -> None:
    staging = tmp_path / "trip"
    staging.mkdir()
    (staging / "a.txt").write_text("Cut it together.")
    staging.rename(watched.inbox / "trip")
    await watched.wait_for(lambda e: e.path == watched.inbox / "trip")
    (watched.inbox / "trip" / "b.mp4").write_bytes(b"x")
    await watched.wait_for(lambda e: e.path == watched.inbox / "trip" / "b.mp4")


async def test_a_folder_made_in_place_is_followed_for_its_files(watched: Watched) -> None:
    folder = watched.inbox / "shoot"
    folder.mkdir()
    await watched.wait_for(lambda e: e.path == folder)
    (folder / "clip.mp4").write_bytes(b"x")
    await watched.wait_for(lambda e: e.path == folder / "clip.mp4")


async def test_a_deletion_is_reported_as_removed(watched: Watched) -> None:
    path = watched.inbox / "clip.mp4"
    path.write_bytes(b"x")
    await watched.wait_for(lambda e: e.path == path)
    path.unlink()
    await watched.wait_for(lambda e: e == WatchEvent(path, removed=True))


async def test_events_under_the_work_dir_are_dropped(inotify: Watched) -> None:
    work = inotify.inbox / ".nemowatch" / "job-1"
    work.mkdir(parents=True)
    (work / "job.json").write_text("{}")
    marker = inotify.inbox / "marker.txt"
    marker.write_text("after the work dir writes")
    seen: list[Path] = []

    def is_marker(event: WatchEvent) -> bool:
        seen.append(event.path)
        return event.path == marker

    await inotify.wait_for(is_marker)  # inotify keeps order: work dir events came first
    assert not [p for p in seen if p.is_relative_to(inotify.inbox / ".nemowatch")]


async def test_nested_folders_created_at_once_do_not_deafen_the_watcher(inotify: Watched) -> None:
    # Each `mkdir -p` races watchdog's recursive walk against the sub-folder's
    # own event; the warning that race raises must not kill the reader thread.
    for n in range(30):
        (inotify.inbox / f"b{n}" / "raw" / "deeper").mkdir(parents=True)
    marker = inotify.inbox / "marker.mp4"
    marker.write_bytes(b"x")
    await inotify.wait_for(lambda e: e.path == marker)


@pytest.mark.inotify_leak
async def test_stop_joins_the_threads_and_may_be_repeated(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    running = await start(tmp_path, polling=False)
    assert set(threading.enumerate()) - before
    running.watcher.stop()
    running.watcher.stop()
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


async def test_start_on_a_missing_inbox_raises_and_leaves_no_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    watcher = InboxWatcher(tmp_path / "missing", polling=False, on_event=lambda e: None)
    with pytest.raises(OSError):
        watcher.start(asyncio.get_running_loop())
    watcher.stop()
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


# -- the pure parts ---------------------------------------------------------------


def test_translate_turns_a_move_into_a_removal_and_a_creation() -> None:
    assert translate(FileMovedEvent("/in/x.part", "/in/x.mp4")) == [
        WatchEvent(Path("/in/x.part"), removed=True),
        WatchEvent(Path("/in/x.mp4")),
    ]
    assert translate(DirMovedEvent(b"/in/a", b"/in/b"))[1] == WatchEvent(Path("/in/b"))
    assert translate(FileCreatedEvent("/in/a")) == [WatchEvent(Path("/in/a"))]
    assert translate(FileClosedEvent("/in/a")) == [WatchEvent(Path("/in/a"), closed=True)]
    assert translate(FileDeletedEvent("/in/a")) == [WatchEvent(Path("/in/a"), removed=True)]


@pytest.mark.parametrize("cls", [FileModifiedEvent, FileOpenedEvent, FileClosedNoWriteEvent])
def test_translate_drops_reads_and_single_writes(cls: type[FileModifiedEvent]) -> None:
    assert translate(cls("/in/a")) == []


async def test_drain_and_events_read_the_queue() -> None:
    queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
    for name in ("a", "b"):
        queue.put_nowait(WatchEvent(Path(name)))
    assert [e.path.name for e in drain(queue)] == ["a", "b"]
    assert drain(queue) == []
    queue.put_nowait(WatchEvent(Path("c")))
    stream = events(queue)
    assert (await asyncio.wait_for(anext(stream), 5)).path.name == "c"
    await stream.aclose()


def test_translate_decodes_bytes_paths() -> None:
    assert translate(FileCreatedEvent(os.fsencode("/in/é.mp4"))) == [WatchEvent(Path("/in/é.mp4"))]
