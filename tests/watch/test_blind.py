"""The inotify observer adds no watch at the work folder: counted in the kernel's own list."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from nemowatch.watch import blind
from nemowatch.watch.observer import InboxWatcher, WatchEvent


def inotify_watches() -> int:
    """The inotify watches this process holds (`inotify wd:` lines of its descriptors)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        count += sum(line.startswith("inotify wd:") for line in info.splitlines())
    return count


async def test_the_work_folder_and_below_are_not_watched_the_rest_is(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for folder in ("bundle", ".nemowatch/job1/files", ".nemowatch/job2/files"):
        (inbox / folder).mkdir(parents=True)
    seen: list[WatchEvent] = []
    before = inotify_watches()
    watcher = InboxWatcher(inbox, polling=False, on_event=seen.append)
    watcher.start(asyncio.get_running_loop())
    try:
        assert inotify_watches() - before == 2, "the inbox and its bundle, nothing below work"
        (inbox / ".nemowatch" / "job3").mkdir()  # a new job folder: no watch either
        (inbox / "bundle" / "more").mkdir()  # a new folder in the inbox: watched
        async with asyncio.timeout(5):  # watchdog adds it on its thread
            while inotify_watches() - before < 3:
                await asyncio.sleep(0.02)
        (inbox / "bundle" / "more" / "clip.mp4").write_bytes(b"x")
        async with asyncio.timeout(5):  # the events come through the loop: wait on it
            while not any(e.path.name == "clip.mp4" and e.closed for e in seen):
                await asyncio.sleep(0.02)
        assert inotify_watches() - before == 3, "job3 got no watch"
        assert not [e for e in seen if inbox / ".nemowatch" in e.path.parents]
    finally:
        watcher.stop()


def test_the_observer_is_the_blind_one_here() -> None:
    """watchdog's layout is the one `blind` was written for (else it falls back silently,
    and the first test would catch the extra watches)."""
    assert type(blind.observer(Path("/nonexistent"))).__name__ == "_BlindObserver"
