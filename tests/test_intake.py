"""The inbox side in-process: a dead watcher restarted, refused claims, folder checks."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from nemowatch.conditions import Conditions, Work
from nemowatch.config import FolderSettings, Settings, WatchSettings
from nemowatch.disk import DISK, DiskWatch, Trouble, role_of
from nemowatch.folderwatch import MISSING, absence
from nemowatch.intake import Intake
from nemowatch.jobs.journal import JobFolder
from nemowatch.watch.observer import WatchEvent


def _settings(tmp_path: Path) -> Settings:
    folders = FolderSettings(
        inbox=tmp_path / "in",
        outbox=tmp_path / "out",
        failed=tmp_path / "failed",
        state=tmp_path / "state",
    )
    for path in (folders.inbox, folders.outbox, folders.failed):
        path.mkdir()
    return Settings(folders=folders, watch=WatchSettings(settle_seconds=0.1, pair_wait_seconds=0))


@pytest.mark.inotify_leak  # the emitter stopped by hand, as a dead one, may keep its descriptor
async def test_a_dead_watcher_thread_is_restarted_and_sees_drops_again(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    conditions = Conditions()
    seen: asyncio.Queue[WatchEvent] = asyncio.Queue()
    intake = Intake(
        settings,
        conditions,
        DiskWatch(conditions, lambda: settings.folders),
        on_event=seen.put_nowait,
        on_claimed=lambda folder, name: None,
        rescan=lambda: None,
    )
    intake.start(asyncio.get_running_loop())
    try:
        observer = intake.watcher._observer
        assert observer is not None
        for emitter in list(observer.emitters):
            emitter.stop()  # as if its thread had died on an exception
            emitter.join(5)
        assert not intake.watcher.alive()
        assert intake.folders.check()  # the periodic look: restarts it, says so
        assert intake.watcher.alive()
        (settings.folders.inbox / "late.mp4").write_bytes(b"x")
        event = await asyncio.wait_for(seen.get(), 10)
        assert event.path.name == "late.mp4"
    finally:
        intake.stop()


@pytest.mark.inotify_leak
async def test_a_missing_inbox_holds_claims_and_its_return_rearms_the_watcher(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    conditions = Conditions()
    rescans: list[bool] = []
    intake = Intake(
        settings,
        conditions,
        DiskWatch(conditions, lambda: settings.folders),
        on_event=lambda event: None,
        on_claimed=lambda folder, name: None,
        rescan=lambda: rescans.append(True),
    )
    intake.start(asyncio.get_running_loop())
    try:
        settings.folders.inbox.rmdir()
        intake.rescan()  # a rescan of a missing inbox raises nothing
        held = conditions.get(MISSING)
        assert held is not None and held.holds == Work.CLAIMS
        settings.folders.inbox.mkdir()
        assert intake.folders.check()
        assert conditions.get(MISSING) is None and rescans == [True]
        assert intake.watcher.alive()
    finally:
        intake.stop()


def test_why_a_folder_is_not_usable(tmp_path: Path) -> None:
    assert absence(tmp_path) is None
    assert "missing" in (absence(tmp_path / "gone") or "")
    (tmp_path / "file").write_text("x")
    assert absence(tmp_path / "file") == "is a file, not a folder"
    os.symlink(tmp_path / "drive", tmp_path / "link")
    assert "unplugged" in (absence(tmp_path / "link") or "")


def test_a_path_belongs_to_the_innermost_folder(tmp_path: Path) -> None:
    folders = FolderSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", state=tmp_path / "s")
    assert role_of(tmp_path / "in" / ".nemowatch" / "job" / "job.json", folders) == "work folder"
    assert role_of(tmp_path / "in" / "clip.mp4", folders) == "inbox"
    assert role_of(tmp_path / "out" / "originals" / "x", folders) == "archive"
    assert role_of("/elsewhere", folders) is None


def test_a_trouble_says_what_to_do(tmp_path: Path) -> None:
    full = Trouble("outbox", tmp_path, errno.ENOSPC, need=50 * 2**20)
    assert "is full" in full.describe() and "MB free" in full.describe()
    assert "50 MB needed" in full.describe()
    assert "read-only" in Trouble("outbox", tmp_path, errno.EROFS).describe()
    assert "another filesystem" in Trouble("work folder", tmp_path, errno.EXDEV).describe()
    assert Trouble("outbox", tmp_path, errno.EROFS).passes(), "writable again: it passes"
    assert not Trouble("outbox", tmp_path, errno.ENOSPC, need=2**60).passes()


async def test_the_disk_condition_holds_by_folder_and_is_released_by_its_probe(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    conditions = Conditions()
    settings.folders.work_dir.mkdir()
    disk = DiskWatch(conditions, lambda: settings.folders, every=0.05)
    try:
        full = OSError(errno.ENOSPC, "No space left on device")
        held = disk.report(settings.folders.outbox / "x.part", full)
        assert held.holds == Work.DELIVERIES and "outbox" in held.reason
        held = disk.report(settings.folders.work_dir / "j" / "job.json", full)
        assert held.holds & Work.CLAIMS and held.holds & Work.PAID_TURNS
        await asyncio.wait_for(conditions.wait_released(DISK), 10)  # the disk here has room
    finally:
        await disk.stop()


def test_an_unmovable_file_waits_with_its_reason_while_others_are_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    inbox = settings.folders.inbox
    for name in ("stuck", "free"):
        (inbox / f"{name}.txt").write_text("Trim it")
        (inbox / f"{name}.mp4").write_bytes(b"\0" * 64)
    real_rename = os.rename

    def rename(src: str | Path, dst: str | Path) -> None:
        if Path(src).name == "stuck.mp4":
            raise PermissionError(errno.EPERM, "Operation not permitted", str(src))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    conditions = Conditions()
    claimed: list[str] = []

    def on_claimed(folder: JobFolder, name: str) -> None:
        claimed.append(name)

    intake = Intake(
        settings,
        conditions,
        DiskWatch(conditions, lambda: settings.folders),
        on_event=lambda event: None,
        on_claimed=on_claimed,
        rescan=lambda: None,
    )
    clock = [0.0]
    monkeypatch.setattr(intake.inbox, "_clock", lambda: clock[0])
    intake.inbox.scan()
    clock[0] = 100.0
    waiting, _ = intake.plan_and_claim(lambda: False)
    assert claimed == ["free"]
    (stuck,) = [w for w in waiting if w.path.name.startswith("stuck")]
    assert "cannot be moved into the work folder" in stuck.reason
    assert (inbox / "stuck.mp4").exists() and (inbox / "stuck.txt").exists()
    assert conditions.active() == [], "one job's own problem is no condition"
