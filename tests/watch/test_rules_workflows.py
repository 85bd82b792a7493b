"""The rules for the workflows: hot folders, refinements and links, with made-up times."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemowatch.config import WatchSettings
from nemowatch.hotfolders import hot_watch
from nemowatch.watch.files import refined_name
from nemowatch.watch.rules import Entries, FileKind, Seen, classify, plan

HOT = Path("/inbox/shorts")
SETTLE, WAIT = 2.0, 600.0
SETTINGS = WatchSettings(settle_seconds=SETTLE, pair_wait_seconds=WAIT)
PRESET = hot_watch(SETTINGS, "Make it vertical.")


def seen(name: str, at: float = 0.0, base: Path = HOT) -> Seen:
    return Seen(base / name, 100, 1, first_seen=at, changed_at=at)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("clip.refine.txt", FileKind.REFINE),
        ("Clip.REFINE.TXT", FileKind.REFINE),
        ("refine.txt", FileKind.INSTRUCTIONS),
        ("site.url", FileKind.LINK),
        ("mac.WEBLOC", FileKind.LINK),
        ("plain.link", FileKind.LINK),
    ],
)
def test_kinds(name: str, kind: FileKind) -> None:
    assert classify(name) is kind


def test_the_name_a_refinement_is_for() -> None:
    assert refined_name("holiday v2.refine.txt") == "holiday v2"
    assert refined_name("Holiday.Refine.txt") == "Holiday"
    assert refined_name("holiday.txt") is None


def test_a_hot_folder_video_alone_is_a_job_one_settle_time_after_it_settled() -> None:
    entries = Entries(files=[seen("clip.mp4")])
    early = plan(entries, SETTLE + 1, PRESET, preset="shorts")
    assert not early.ready and early.wake_at == 2 * SETTLE
    assert "the preset's instructions in" in early.waiting[0].reason
    (ready,) = plan(entries, 2 * SETTLE, PRESET, preset="shorts").ready
    assert ready.preset == "shorts" and ready.use_default_instructions
    assert ready.instructions is None


def test_a_txt_copied_along_pairs_with_the_hot_folder_video() -> None:
    entries = Entries(files=[seen("clip.mp4"), seen("clip.txt", at=SETTLE + 1)])
    (ready,) = plan(entries, 2 * SETTLE + 1, PRESET, preset="shorts").ready
    assert ready.instructions == HOT / "clip.txt" and ready.preset == "shorts"


def test_the_inbox_itself_still_waits_pair_wait_seconds() -> None:
    entries = Entries(files=[seen("clip.mp4", base=Path("/inbox"))])
    defaults = hot_watch(SETTINGS, "Make it shine.")
    assert not plan(entries, 2 * SETTLE, defaults).ready
    assert plan(entries, SETTLE + WAIT, defaults).ready


def test_a_folder_in_a_hot_folder_needs_no_txt() -> None:
    entries = Entries(folders={HOT / "trip": [seen("a.mp4", base=HOT / "trip")]})
    (ready,) = plan(entries, SETTLE, PRESET, preset="shorts").ready
    assert ready.kind == "bundle" and ready.problem is None and ready.preset == "shorts"
    inbox = Entries(folders={Path("/inbox/trip"): [seen("a.mp4", base=Path("/inbox/trip"))]})
    (failing,) = plan(inbox, SETTLE + WAIT, SETTINGS).ready
    assert failing.problem and "no .txt" in failing.problem


def test_a_refinement_note_is_a_job_of_its_own_once_settled() -> None:
    entries = Entries(files=[seen("holiday.refine.txt"), seen("holiday.txt")])
    result = plan(entries, SETTLE, SETTINGS)
    (ready,) = result.ready
    assert (ready.name, ready.kind, ready.media) == ("holiday", "refine", ())
    assert ready.instructions == HOT / "holiday.refine.txt"
    assert [w.path.name for w in result.waiting] == ["holiday.txt"], "a plain .txt never refines"
    assert not plan(entries, SETTLE - 0.5, SETTINGS).ready


def test_a_refinement_note_inside_a_bundle_is_a_problem() -> None:
    folder = HOT / "trip"
    entries = Entries(
        folders={folder: [seen(n, base=folder) for n in ("a.mp4", "a.txt", "a.refine.txt")]}
    )
    (failing,) = plan(entries, SETTLE + WAIT, SETTINGS).ready
    assert failing.problem and "refines a delivered result" in failing.problem


def test_a_link_pairs_like_a_video() -> None:
    entries = Entries(files=[seen("site.url"), seen("site.txt")])
    (ready,) = plan(entries, SETTLE, SETTINGS).ready
    assert ready.media == (HOT / "site.url",) and ready.problem is None
