"""The scanner on real folders: what it records, what it never opens, what it forgets."""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any, NoReturn

import pytest

from nemowatch.config import WatchSettings
from nemowatch.watch.inbox import DANGLING, NESTED, NOT_REGULAR, OUTSIDE, Inbox
from nemowatch.watch.rules import Plan

SETTINGS = WatchSettings(settle_seconds=2, pair_wait_seconds=5)


class Clock:
    """The one clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox_dir(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def inbox(inbox_dir: Path, clock: Clock) -> Inbox:
    return Inbox(inbox_dir, inbox_dir / ".nemowatch", SETTINGS, clock)


def write(path: Path, data: bytes = b"x" * 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(inbox: Inbox) -> set[str]:
    entries = inbox.entries()
    found = {s.path.name for s in entries.files}
    for folder, seens in entries.folders.items():
        found |= {f"{folder.name}/{s.path.name}" for s in seens} or {f"{folder.name}/"}
    return found


def reasons(result: Plan) -> dict[str, str]:
    return {w.path.name: w.reason for w in result.waiting}


def test_scan_finds_a_pair_and_it_is_ready_once_settled(
    inbox: Inbox, inbox_dir: Path, clock: Clock
) -> None:
    write(inbox_dir / "clip.mp4")
    write(inbox_dir / "clip.txt", b"Cut the pauses.")
    inbox.scan()
    assert names(inbox) == {"clip.mp4", "clip.txt"}
    assert inbox.plan().ready == []
    clock.now += 2
    inbox.scan()  # a second look at unchanged files keeps their settle clock
    (job,) = inbox.plan().ready
    assert job.media == (inbox_dir / "clip.mp4",)
    assert job.instructions == inbox_dir / "clip.txt"


def test_scan_reads_bundle_folders_one_level_deep(
    inbox: Inbox, inbox_dir: Path, clock: Clock
) -> None:
    write(inbox_dir / "trip" / "a.txt")
    write(inbox_dir / "trip" / "a.mp4")
    write(inbox_dir / "trip" / "music.mp3")
    (inbox_dir / "empty").mkdir()
    inbox.scan()
    assert names(inbox) == {"trip/a.txt", "trip/a.mp4", "trip/music.mp3", "empty/"}
    clock.now += 2
    (job,) = inbox.plan().ready
    assert (job.kind, job.folder) == ("bundle", inbox_dir / "trip")


def test_plan_looks_again_before_calling_a_file_ready(
    inbox: Inbox, inbox_dir: Path, clock: Clock
) -> None:
    video = write(inbox_dir / "clip.mp4")
    write(inbox_dir / "clip.txt")
    inbox.scan()
    with video.open("ab") as f:  # still being written, and no event said so
        f.write(b"more")
    clock.now += 2
    result = inbox.plan()
    assert result.ready == []
    assert reasons(result)["clip.mp4"] == "still being written (settling)"
    clock.now += 2
    assert len(inbox.plan().ready) == 1


def test_plan_looks_again_at_a_whole_bundle(inbox: Inbox, inbox_dir: Path, clock: Clock) -> None:
    write(inbox_dir / "trip" / "a.txt")
    write(inbox_dir / "trip" / "a.mp4")
    inbox.scan()
    write(inbox_dir / "trip" / "b.mp4")  # arrived without an event
    clock.now += 2
    assert inbox.plan().ready == []
    clock.now += 2
    (job,) = inbox.plan().ready
    assert [p.name for p in job.media] == ["a.mp4", "b.mp4"]


def test_ignored_names_and_the_work_dir_are_skipped(inbox_dir: Path, clock: Clock) -> None:
    write(inbox_dir / "clip.mp4.part")
    write(inbox_dir / ".hidden.mp4")
    write(inbox_dir / ".nemowatch" / "job-1" / "a.mp4")
    write(inbox_dir / "work" / "job-2" / "b.mp4")
    write(inbox_dir / "trip" / ".DS_Store")
    scanner = Inbox(inbox_dir, inbox_dir / "work", SETTINGS, clock)
    scanner.scan()
    assert names(scanner) == {"trip/.DS_Store"}
    scanner.note(inbox_dir / "work" / "job-2" / "b.mp4", closed=True)
    assert names(scanner) == {"trip/.DS_Store"}


def test_new_ignore_patterns_of_a_reload_count_from_the_next_scan(
    inbox_dir: Path, clock: Clock
) -> None:
    write(inbox_dir / "clip.mp4.part")
    write(inbox_dir / "notes.bak")
    scanner = Inbox(inbox_dir, inbox_dir / ".nemowatch", SETTINGS, clock)
    scanner.scan()
    assert names(scanner) == {"notes.bak"}
    scanner.reconfigure(SETTINGS.model_copy(update={"ignore_patterns": ["*.bak"]}))
    scanner.scan()
    assert names(scanner) == {"clip.mp4.part"}


def test_other_folders_inside_the_inbox_can_be_skipped(inbox_dir: Path, clock: Clock) -> None:
    write(inbox_dir / "out" / "done.mp4")
    scanner = Inbox(inbox_dir, inbox_dir / ".nemowatch", SETTINGS, clock, skip=[inbox_dir / "out"])
    scanner.scan()
    assert names(scanner) == set()


def test_vanished_files_are_forgotten(inbox: Inbox, inbox_dir: Path) -> None:
    write(inbox_dir / "a.mp4")
    write(inbox_dir / "trip" / "b.mp4")
    inbox.scan()
    (inbox_dir / "a.mp4").unlink()
    (inbox_dir / "trip" / "b.mp4").unlink()
    inbox.scan()
    assert names(inbox) == {"trip/"}
    (inbox_dir / "trip").rmdir()
    inbox.scan()
    assert names(inbox) == set()


def _no_open(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError(f"the scanner opened {args[0]!r}")


@pytest.mark.timeout(10)
def test_a_fifo_is_never_opened_and_waits_with_a_reason(
    inbox: Inbox, inbox_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(inbox_dir / "pipe.mp4")
    write(inbox_dir / "trip" / "a.txt")
    os.mkfifo(inbox_dir / "trip" / "pipe.mov")
    # Opening a FIFO with no writer blocks forever: make any open fail loudly instead.
    monkeypatch.setattr(builtins, "open", _no_open)
    monkeypatch.setattr(os, "open", _no_open)
    inbox.scan()
    inbox.note(inbox_dir / "pipe.mp4")
    clock.now += 1000
    result = inbox.plan()
    monkeypatch.undo()
    assert result.ready == []
    assert reasons(result) == {
        "pipe.mp4": f"pipe.mp4 {NOT_REGULAR}",
        "trip": f"pipe.mov {NOT_REGULAR}",
    }


def test_a_link_outside_the_inbox_fails_and_is_not_followed(
    inbox: Inbox, inbox_dir: Path, tmp_path: Path, clock: Clock
) -> None:
    outside = write(tmp_path / "secret.mp4", b"y" * 5000)
    (inbox_dir / "clip.mp4").symlink_to(outside)
    write(inbox_dir / "clip.txt")
    inbox.scan()
    (link,) = [s for s in inbox.entries().files if s.path.name == "clip.mp4"]
    assert link.size != outside.stat().st_size  # the link's own lstat, not the target's
    assert link.problem == OUTSIDE
    clock.now += 2 + 5
    (job,) = inbox.plan().ready
    assert job.problem == f"clip.mp4 {OUTSIDE}"
    assert set(job.files) == {inbox_dir / "clip.mp4", inbox_dir / "clip.txt"}


def test_a_link_into_the_work_dir_counts_as_outside(inbox: Inbox, inbox_dir: Path) -> None:
    claimed = write(inbox_dir / ".nemowatch" / "job-1" / "a.mp4")
    (inbox_dir / "a.mp4").symlink_to(claimed)
    inbox.scan()
    assert inbox.entries().files[0].problem == OUTSIDE


def test_a_link_inside_the_inbox_is_followed_for_size(inbox: Inbox, inbox_dir: Path) -> None:
    target = write(inbox_dir / ".store" / "real.mp4", b"z" * 4321)
    (inbox_dir / "clip.mp4").symlink_to(target)
    (inbox_dir / "trip").mkdir()
    (inbox_dir / "trip" / "clip.mp4").symlink_to(Path("..") / ".store" / "real.mp4")
    inbox.scan()
    sizes = {s.path.name: (s.size, s.problem) for s in inbox.entries().files}
    assert sizes == {"clip.mp4": (4321, None)}
    (inside,) = inbox.entries().folders[inbox_dir / "trip"]
    assert (inside.size, inside.problem) == (4321, None)


def test_a_dangling_link_is_a_problem(inbox: Inbox, inbox_dir: Path) -> None:
    (inbox_dir / "gone.mp4").symlink_to(inbox_dir / "nothing.mp4")
    inbox.scan()
    assert inbox.entries().files[0].problem == DANGLING


def test_a_folder_inside_a_bundle_is_a_problem(inbox: Inbox, inbox_dir: Path) -> None:
    write(inbox_dir / "trip" / "more" / "b.mp4")
    inbox.scan()
    (nested,) = inbox.entries().folders[inbox_dir / "trip"]
    assert (nested.path.name, nested.problem) == ("more", NESTED)


def test_an_unreadable_bundle_waits_with_a_reason(
    inbox: Inbox, inbox_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = inbox_dir / "locked"
    write(locked / "a.mp4")
    real_scandir = os.scandir

    def scandir(path: Path) -> Any:
        if Path(path) == locked:  # chmod 0 does not stop root, so refuse here
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    inbox.scan()
    result = inbox.plan()
    assert reasons(result) == {
        "locked": "locked cannot be read (Permission denied): check the folder's permissions"
    }


# -- events ------------------------------------------------------------------------


def test_note_records_new_files_and_closes(inbox: Inbox, inbox_dir: Path, clock: Clock) -> None:
    video = write(inbox_dir / "clip.mp4")
    inbox.note(video)
    (record,) = inbox.entries().files
    assert (record.first_seen, record.closed_at) == (100.0, None)
    clock.now += 1
    inbox.note(video, closed=True)
    (record,) = inbox.entries().files
    assert (record.first_seen, record.changed_at, record.closed_at) == (100.0, 100.0, 101.0)


def test_note_of_a_removed_path_forgets_it(inbox: Inbox, inbox_dir: Path) -> None:
    video = write(inbox_dir / "clip.mp4")
    inner = write(inbox_dir / "trip" / "a.mp4")
    inbox.scan()
    video.unlink()
    inner.unlink()
    inbox.note(video)
    inbox.note(inner)
    assert names(inbox) == {"trip/"}
    (inbox_dir / "trip").rmdir()
    inbox.note(inbox_dir / "trip")
    assert names(inbox) == set()


def test_note_of_a_new_folder_reads_all_of_it(inbox: Inbox, inbox_dir: Path) -> None:
    write(inbox_dir / "trip" / "a.txt")
    write(inbox_dir / "trip" / "a.mp4")
    inbox.note(inbox_dir / "trip" / "a.mp4")  # the first event seen may be for any file in it
    assert names(inbox) == {"trip/a.txt", "trip/a.mp4"}
    write(inbox_dir / "trip" / "b.mp4")
    inbox.note(inbox_dir / "trip" / "b.mp4", closed=True)
    assert "trip/b.mp4" in names(inbox)


def test_note_of_a_known_folder_keeps_its_settle_clocks(
    inbox: Inbox, inbox_dir: Path, clock: Clock
) -> None:
    write(inbox_dir / "trip" / "a.mp4")
    inbox.scan()
    clock.now += 5
    inbox.note(inbox_dir / "trip")
    (record,) = inbox.entries().folders[inbox_dir / "trip"]
    assert record.changed_at == 100.0


def test_note_ignores_paths_outside_the_inbox(inbox: Inbox, tmp_path: Path) -> None:
    inbox.note(write(tmp_path / "elsewhere.mp4"))
    inbox.note(tmp_path / "inbox")
    assert names(inbox) == set()


def test_forget_drops_claimed_files_and_folders(inbox: Inbox, inbox_dir: Path) -> None:
    write(inbox_dir / "clip.mp4")
    write(inbox_dir / "clip.txt")
    write(inbox_dir / "trip" / "a.mp4")
    write(inbox_dir / "other" / "b.mp4")
    inbox.scan()
    inbox.forget([inbox_dir / "clip.mp4", inbox_dir / "clip.txt", inbox_dir / "trip"])
    inbox.forget([inbox_dir / "other" / "b.mp4"])
    assert names(inbox) == {"other/"}


def test_a_quiet_inbox_is_planned_once_until_something_changes(
    inbox: Inbox, inbox_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rescan that finds the same entries gives the same plan without running the rules
    again (a big inbox of unrelated files, idle); any change, or a ready job, plans anew."""
    from nemowatch.watch import inbox as module

    runs: list[float] = []
    rules = module.plan

    def counted(*args: Any, **kwargs: Any) -> Plan:
        runs.append(clock.now)
        return rules(*args, **kwargs)

    monkeypatch.setattr(module, "plan", counted)
    for i in range(20):  # each waits for its video, for as long as it takes
        write(inbox_dir / f"notes{i}.txt", b"Trim the silences")
    write(inbox_dir / "stuff" / ".DS_Store")
    inbox.scan()
    clock.now += 60  # long settled: nothing waits for a timer
    first = inbox.plan()
    assert first.wake_at is None and not first.ready and len(runs) == 1
    inbox.scan()
    assert inbox.plan() is first and len(runs) == 1, "an unchanged rescan plans nothing"

    write(inbox_dir / "clip.mp4")
    inbox.scan()
    assert inbox.plan().wake_at is not None and len(runs) == 2, "a new file is planned"
    inbox.scan()
    inbox.plan()
    assert len(runs) == 3, "a plan waiting for a timer is made again"
