"""The pairing and settling rules, with made-up sizes and times: no clock, no disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemowatch.config import WatchSettings
from nemowatch.watch.rules import (
    Candidate,
    Entries,
    FileKind,
    Plan,
    Seen,
    classify,
    is_ignored,
    observe,
    plan,
    settled,
)

INBOX = Path("/inbox")
SETTLE, WAIT = 2.0, 10.0
SETTINGS = WatchSettings(settle_seconds=SETTLE, pair_wait_seconds=WAIT)
DEFAULTS = WatchSettings(
    settle_seconds=SETTLE, pair_wait_seconds=WAIT, default_instructions="Make it shine."
)


def seen(name: str, at: float = 0.0, folder: str | None = None, **fields: object) -> Seen:
    """A record that last changed at `at` (first seen then too)."""
    base = INBOX / folder if folder else INBOX
    record = Seen(base / name, 100, 1, first_seen=at, changed_at=at)
    return Seen(**{**record.__dict__, **fields})  # type: ignore[arg-type]


def top(*seens: Seen) -> Entries:
    return Entries(files=list(seens))


def bundle(folder: str, *names: str, at: float = 0.0) -> Entries:
    return Entries(folders={INBOX / folder: [seen(n, at, folder) for n in names]})


def reasons(result: Plan) -> dict[str, str]:
    return {w.path.name: w.reason for w in result.waiting}


def only(result: Plan) -> Candidate:
    assert len(result.ready) == 1, result
    return result.ready[0]


# -- names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("clip.mp4", FileKind.VIDEO),
        ("CLIP.MOV", FileKind.VIDEO),
        ("a.b.mkv", FileKind.VIDEO),
        ("song.Mp3", FileKind.AUDIO),
        ("logo.PNG", FileKind.IMAGE),
        ("clip.txt", FileKind.INSTRUCTIONS),
        ("clip.mp4.TXT", FileKind.INSTRUCTIONS),
        ("notes.docx", FileKind.UNSUPPORTED),
        ("Makefile", FileKind.UNSUPPORTED),
        ("mp4", FileKind.UNSUPPORTED),
    ],
)
def test_classify_by_extension_case_insensitively(name: str, kind: FileKind) -> None:
    assert classify(name) is kind


@pytest.mark.parametrize(
    "name",
    [".DS_Store", "clip.mp4.part", "CLIP.MP4.PART", "x.crdownload", "a.tmp", "b.download", "~$doc"],
)
def test_default_ignore_patterns(name: str) -> None:
    assert is_ignored(name, SETTINGS.ignore_patterns)
    assert is_ignored(f"/some/folder/{name}", SETTINGS.ignore_patterns)


def test_ignore_patterns_leave_real_names_alone() -> None:
    for name in ("clip.mp4", "clip.txt", "part.mp4", "my.tmp.mp4"):
        assert not is_ignored(name, SETTINGS.ignore_patterns)
    assert is_ignored("raw_take.mov", ["raw_*"])


# -- settling -------------------------------------------------------------------


def test_observe_a_new_entry_starts_its_clocks() -> None:
    record = observe(None, INBOX / "a.mp4", 10, 5, now=3.0)
    assert (record.first_seen, record.changed_at, record.closed_at) == (3.0, 3.0, None)


@pytest.mark.parametrize(("size", "mtime_ns"), [(11, 5), (10, 6)])
def test_a_change_of_size_or_mtime_restarts_the_settle_clock(size: int, mtime_ns: int) -> None:
    record = observe(None, INBOX / "a.mp4", 10, 5, now=0.0)
    record = observe(record, record.path, size, mtime_ns, now=5.0)
    assert record.changed_at == 5.0
    assert record.first_seen == 0.0
    assert not settled(record, 6.0, SETTLE)
    assert settled(record, 7.0, SETTLE)


def test_an_unchanged_entry_keeps_settling() -> None:
    record = observe(None, INBOX / "a.mp4", 10, 5, now=0.0)
    record = observe(record, record.path, 10, 5, now=1.5)
    assert record.changed_at == 0.0
    assert settled(record, 2.0, SETTLE)


def test_an_unchanged_entry_keeps_its_record_and_what_it_worked_out() -> None:
    """A look that finds nothing changed returns the same record: its folded name and
    kind, worked out once, are not worked out again by every plan after each rescan."""
    first = observe(None, INBOX / "Clip.MP4", 10, 5, now=0.0)
    assert (first.folded, first.kind) == ("clip.mp4", FileKind.VIDEO)
    assert observe(first, first.path, 10, 5, now=9.0) is first
    changed = observe(first, first.path, 11, 5, now=9.0)
    assert changed is not first and changed.size == 11
    assert observe(first, first.path, 10, 5, now=9.0, closed=True) is not first


def test_a_close_event_is_noted_but_not_enough_alone() -> None:
    record = observe(None, INBOX / "a.mp4", 10, 5, now=0.0)
    record = observe(record, record.path, 20, 6, now=4.0, closed=True)
    assert record.closed_at == 4.0
    assert not settled(record, 5.0, SETTLE)
    assert settled(record, 6.0, SETTLE)
    # a later look without an event keeps the close on record
    assert observe(record, record.path, 20, 6, now=7.0).closed_at == 4.0


def test_a_file_without_any_close_event_settles_by_time_alone() -> None:
    record = observe(None, INBOX / "renamed.mp4", 10, 5, now=0.0)
    assert record.closed_at is None
    assert settled(record, SETTLE, SETTLE)


def test_becoming_a_different_kind_of_entry_is_a_change() -> None:
    record = observe(None, INBOX / "a.mp4", 0, 5, now=0.0, blocked="is a pipe")
    assert observe(record, record.path, 0, 5, now=3.0).changed_at == 3.0


# -- pairs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("video", "txt"),
    [
        ("clip.mp4", "clip.txt"),
        ("clip.mp4", "clip.mp4.txt"),
        ("CLIP.MP4", "clip.txt"),
        ("clip.mov", "CLIP.MOV.TXT"),
        ("my.holiday.webm", "My.Holiday.txt"),
    ],
)
def test_a_settled_video_and_its_txt_are_a_pair(video: str, txt: str) -> None:
    result = plan(top(seen(video), seen(txt)), SETTLE, SETTINGS)
    job = only(result)
    assert job == Candidate(Path(video).stem, "pair", (INBOX / video,), INBOX / txt)
    assert job.files == (INBOX / video, INBOX / txt)
    assert result.waiting == []


def test_a_pair_waits_until_every_file_has_settled() -> None:
    entries = top(seen("clip.mp4", at=0.0), seen("clip.txt", at=1.0))
    early = plan(entries, 2.5, SETTINGS)
    assert early.ready == []
    assert reasons(early) == {
        "clip.txt": "still being written (settling)",
        "clip.mp4": "waiting for clip.txt (still being written)",
    }
    assert early.wake_at == 3.0
    assert only(plan(entries, 3.0, SETTINGS)).instructions == INBOX / "clip.txt"


def test_the_whole_name_txt_wins_over_the_stem_txt() -> None:
    entries = top(seen("a.mp4"), seen("a.mov"), seen("a.mp4.txt"), seen("a.txt"))
    result = plan(entries, SETTLE, SETTINGS)
    pairs = {c.media[0].name: c.instructions for c in result.ready}
    assert pairs == {"a.mp4": INBOX / "a.mp4.txt", "a.mov": INBOX / "a.txt"}
    assert all(c.problem is None for c in result.ready)


# -- videos without instructions -------------------------------------------------


def test_a_lone_video_waits_for_its_instructions_with_no_default() -> None:
    result = plan(top(seen("clip.mp4")), 1e6, SETTINGS)
    assert result.ready == []
    assert reasons(result) == {"clip.mp4": "waiting for instructions: add clip.txt"}
    assert result.wake_at is None


def test_default_instructions_after_pair_wait_counted_from_the_settle() -> None:
    entries = top(seen("clip.mp4", at=5.0))
    settling = plan(entries, 6.0, DEFAULTS)
    assert reasons(settling) == {"clip.mp4": "still being written (settling)"}
    waiting = plan(entries, 12.0, DEFAULTS)
    assert waiting.ready == []
    assert reasons(waiting) == {
        "clip.mp4": "waiting for instructions: add clip.txt (default instructions in 5s)"
    }
    assert waiting.wake_at == 5.0 + SETTLE + WAIT
    job = only(plan(entries, 5.0 + SETTLE + WAIT, DEFAULTS))
    assert job == Candidate("clip", "pair", (INBOX / "clip.mp4",), None, True)


def test_instructions_arriving_in_time_beat_the_default() -> None:
    job = only(plan(top(seen("clip.mp4"), seen("clip.txt", at=8.0)), 10.0, DEFAULTS))
    assert not job.use_default_instructions
    assert job.instructions == INBOX / "clip.txt"


def test_blank_default_instructions_count_as_none() -> None:
    settings = WatchSettings(pair_wait_seconds=0, default_instructions="  \n")
    assert plan(top(seen("clip.mp4")), 1e6, settings).ready == []


# -- orphan instructions ----------------------------------------------------------


def test_an_orphan_txt_waits_and_never_fails() -> None:
    result = plan(top(seen("clip.txt")), 1e6, DEFAULTS)
    assert result.ready == []
    assert "instructions waiting for their video: add clip.mp4" in reasons(result)["clip.txt"]
    assert result.wake_at is None
    named = plan(top(seen("clip.mov.txt")), 1e6, SETTINGS)
    assert reasons(named) == {"clip.mov.txt": "instructions waiting for their video: add clip.mov"}


def test_a_txt_beside_its_bundle_folder_says_to_move_it_inside() -> None:
    entries = Entries(
        files=[seen("Trip.txt")], folders={INBOX / "trip": [seen("a.mp4", folder="trip")]}
    )
    result = plan(entries, 1e6, SETTINGS)
    assert result.ready == []
    assert "move Trip.txt into it" in reasons(result)["Trip.txt"]
    assert reasons(result)["trip"] == "no .txt inside: move Trip.txt into the folder"


# -- jobs that fail at once ---------------------------------------------------------


def test_two_videos_for_one_txt_fail_together() -> None:
    entries = top(seen("a.mp4"), seen("a.mov"), seen("a.txt"))
    early = plan(entries, SETTLE, SETTINGS)
    assert early.ready == []
    assert all("(fails in 10s)" in r for r in reasons(early).values())
    assert len(early.waiting) == 3
    job = only(plan(entries, SETTLE + WAIT, SETTINGS))
    assert job.problem is not None
    assert job.problem.startswith("two videos (a.mov, a.mp4) for one instructions file (a.txt)")
    assert "rename one" in job.problem
    assert set(job.files) == {INBOX / "a.mp4", INBOX / "a.mov", INBOX / "a.txt"}


def test_an_unsupported_file_fails_with_its_txt_naming_the_accepted_types() -> None:
    job = only(plan(top(seen("notes.docx"), seen("notes.txt")), SETTLE + WAIT, SETTINGS))
    assert job.problem is not None
    assert job.problem.startswith("notes.docx is not a type nemowatch accepts")
    assert "mp4" in job.problem and "mp3" in job.problem and "png" in job.problem
    assert set(job.files) == {INBOX / "notes.docx", INBOX / "notes.txt"}
    assert job.name == "notes"


def test_an_unsupported_file_alone_fails_too() -> None:
    job = only(plan(top(seen("report.pdf")), SETTLE + WAIT, SETTINGS))
    assert job.files == (INBOX / "report.pdf",)
    assert job.instructions is None
    assert job.problem is not None and "report.pdf" in job.problem


@pytest.mark.parametrize(("name", "what"), [("song.mp3", "an audio file"), ("p.jpg", "an image")])
def test_lone_audio_or_image_at_top_level_fails_with_a_fix(name: str, what: str) -> None:
    job = only(plan(top(seen(name)), SETTLE + WAIT, SETTINGS))
    assert job.problem is not None
    assert job.problem.startswith(f"{name} is {what} on its own")
    assert "put it in a folder" in job.problem


def test_a_problem_waits_while_anything_in_it_is_still_changing() -> None:
    entries = top(seen("notes.docx", at=0.0), seen("notes.txt", at=20.0))
    assert plan(entries, SETTLE + WAIT, SETTINGS).ready == []
    assert only(plan(entries, 20.0 + SETTLE + WAIT, SETTINGS)).problem


def test_an_entry_marked_with_a_problem_fails_its_job() -> None:
    link = seen("clip.mp4", problem="is a link to a file outside the inbox: copy it in")
    job = only(plan(top(link, seen("clip.txt")), SETTLE + WAIT, SETTINGS))
    assert job.problem == "clip.mp4 is a link to a file outside the inbox: copy it in"
    assert set(job.files) == {INBOX / "clip.mp4", INBOX / "clip.txt"}


def test_a_blocked_entry_waits_and_is_never_part_of_a_job() -> None:
    pipe = seen("clip.mp4", blocked="is not a regular file: remove it")
    result = plan(top(pipe, seen("clip.txt")), 1e6, SETTINGS)
    assert result.ready == []
    assert reasons(result)["clip.mp4"] == "clip.mp4 is not a regular file: remove it"
    assert reasons(result)["clip.txt"].startswith("instructions waiting for their video")


# -- ignored names -------------------------------------------------------------------


def test_ignored_top_level_names_take_no_part() -> None:
    entries = top(seen("clip.mp4.part", at=1.5), seen(".clip.mp4"), seen("clip.txt"))
    result = plan(entries, SETTLE, SETTINGS)
    assert result.ready == []
    assert [w.path.name for w in result.waiting] == ["clip.txt"]


def test_custom_ignore_patterns_replace_the_defaults() -> None:
    settings = WatchSettings(settle_seconds=SETTLE, ignore_patterns=["draft_*"])
    result = plan(top(seen("draft_a.mp4"), seen(".b.mp4"), seen(".b.txt")), SETTLE, settings)
    assert [c.name for c in result.ready] == [".b"]


# -- bundles -------------------------------------------------------------------------


def test_a_settled_folder_with_one_txt_and_media_is_a_bundle() -> None:
    entries = bundle("trip", "notes.txt", "b.mp4", "A.mov", "music.mp3", "logo.png", ".DS_Store")
    job = only(plan(entries, SETTLE, SETTINGS))
    folder = INBOX / "trip"
    assert job == Candidate(
        "trip",
        "bundle",
        tuple(folder / n for n in ("A.mov", "b.mp4", "logo.png", "music.mp3")),
        folder / "notes.txt",
        folder=folder,
    )


def test_a_bundle_of_audio_and_images_without_video_is_accepted() -> None:
    assert only(plan(bundle("show", "a.txt", "a.jpg", "b.wav"), SETTLE, SETTINGS)).problem is None


def test_a_bundle_waits_while_any_file_in_it_changes() -> None:
    folder = INBOX / "trip"
    files = [seen("a.txt", 0.0, "trip"), seen("a.mp4", 0.0, "trip"), seen("b.mp4", 1.0, "trip")]
    entries = Entries(folders={folder: files})
    result = plan(entries, SETTLE, SETTINGS)
    assert result.ready == []
    assert reasons(result) == {"trip": "folder still being written (settling)"}
    assert result.wake_at == 3.0
    assert only(plan(entries, 3.0, SETTINGS)).media == (folder / "a.mp4", folder / "b.mp4")


def test_an_ignored_file_still_changing_holds_the_bundle() -> None:
    folder = INBOX / "trip"
    files = [seen("a.txt", 0.0, "trip"), seen("a.mp4", 0.0, "trip"), seen("b.mp4.part", 5, "trip")]
    entries = Entries(folders={folder: files})
    assert plan(entries, SETTLE, SETTINGS).ready == []
    job = only(plan(entries, 5 + SETTLE, SETTINGS))
    assert job.media == (folder / "a.mp4",)


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (("a.mp4", "b.mp4"), "the folder trip has no .txt of instructions: add one"),
        (("a.mp4", "a.txt", "b.txt"), "the folder trip holds two .txt files (a.txt, b.txt)"),
        (("a.txt",), "the folder trip has no video, audio or image file"),
        (("a.txt", "a.mp4", "x.psd"), "x.psd is not a type nemowatch accepts"),
    ],
)
def test_a_bundle_that_cannot_work_fails_after_the_wait(
    names: tuple[str, ...], problem: str
) -> None:
    entries = bundle("trip", *names)
    early = plan(entries, SETTLE, SETTINGS)
    assert early.ready == []
    assert reasons(early)["trip"].startswith(problem)
    assert reasons(early)["trip"].endswith("(fails in 10s)")
    assert early.wake_at == SETTLE + WAIT
    job = only(plan(entries, SETTLE + WAIT, SETTINGS))
    assert job.problem is not None and job.problem.startswith(problem)
    assert job.folder == INBOX / "trip"
    assert {p.name for p in job.files} == set(names)


def test_an_empty_folder_waits_without_failing() -> None:
    entries = Entries(folders={INBOX / "new": [], INBOX / "junk": [seen(".DS_Store", 0, "junk")]})
    result = plan(entries, 1e6, SETTINGS)
    assert result.ready == []
    assert reasons(result)["new"].startswith("empty folder")
    assert reasons(result)["junk"].startswith("empty folder")


def test_a_blocked_entry_in_a_bundle_holds_it() -> None:
    folder = INBOX / "trip"
    files = [seen("a.txt", folder="trip"), seen("p.mp4", folder="trip", blocked="is a pipe")]
    result = plan(Entries(folders={folder: files}), 1e6, SETTINGS)
    assert result.ready == []
    assert reasons(result) == {"trip": "p.mp4 is a pipe"}


def test_a_marked_entry_in_a_bundle_fails_it() -> None:
    folder = INBOX / "trip"
    nested = seen("more", folder="trip", problem="is a folder inside a bundle folder")
    files = [seen("a.txt", folder="trip"), seen("a.mp4", folder="trip"), nested]
    job = only(plan(Entries(folders={folder: files}), SETTLE + WAIT, SETTINGS))
    assert job.problem == "more is a folder inside a bundle folder"


def test_wake_at_is_the_earliest_deadline() -> None:
    entries = Entries(
        files=[seen("a.mp4", at=0.0), seen("b.mp4", at=3.0), seen("c.txt", at=3.0)],
        folders={INBOX / "t": [seen("x.mp4", 1.0, "t")]},
    )
    assert plan(entries, 2.5, DEFAULTS).wake_at == 1.0 + SETTLE  # t settles
    assert plan(entries, 3.5, DEFAULTS).wake_at == 3.0 + SETTLE  # b.mp4 and c.txt settle
    assert plan(entries, 6.0, DEFAULTS).wake_at == 0.0 + SETTLE + WAIT  # a.mp4's default
