"""Claiming moves files into the work folder atomically, or not at all."""

from __future__ import annotations

from pathlib import Path

from nemowatch.jobs.claim import ClaimRequest, claim, complete, undo
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import JobStage
from nemowatch.jobs.results import numbered


def pair(inbox: Path) -> ClaimRequest:
    (inbox / "a.mp4").write_bytes(b"video")
    (inbox / "a.txt").write_text("edit")
    return ClaimRequest("a", "pair", (inbox / "a.mp4",), inbox / "a.txt")


def test_a_pair_is_claimed_with_its_journal(tmp_path: Path) -> None:
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    folder = claim(pair(inbox), work)
    assert folder is not None
    assert sorted(p.name for p in folder.files.iterdir()) == ["a.mp4", "a.txt"]
    assert list(inbox.iterdir()) == []
    job = folder.load()
    assert (job.stage, job.media, job.instructions_file) == (JobStage.CLAIMED, ["a.mp4"], "a.txt")


def test_a_file_that_vanished_drops_the_claim_and_leaves_the_rest(tmp_path: Path) -> None:
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    request = pair(inbox)
    (inbox / "a.txt").unlink()
    assert claim(request, work) is None
    assert [p.name for p in inbox.iterdir()] == ["a.mp4"]
    assert list(work.iterdir()) == []


def test_a_file_that_changed_during_the_claim_goes_back(tmp_path: Path) -> None:
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    request = pair(inbox)
    stale = {inbox / "a.mp4": (1, 1)}  # not what is on disk now
    changed = ClaimRequest(**{**request.__dict__, "expected": stale})
    assert claim(changed, work) is None
    assert sorted(p.name for p in inbox.iterdir()) == ["a.mp4", "a.txt"]


def test_a_claim_interrupted_after_its_journal_is_completed_on_restart(tmp_path: Path) -> None:
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    folder = claim(pair(inbox), work)
    assert folder is not None
    job = folder.load()
    (folder.files / "a.txt").rename(inbox / "a.txt")  # as if the crash came mid-claim
    assert complete(folder, job, {})
    assert sorted(p.name for p in folder.files.iterdir()) == ["a.mp4", "a.txt"]


def test_undo_puts_a_bundle_folder_back(tmp_path: Path) -> None:
    inbox, work = tmp_path / "in", tmp_path / "work"
    (inbox / "Trip").mkdir(parents=True)
    (inbox / "Trip" / "a.mp4").write_bytes(b"v")
    (inbox / "Trip" / "notes.txt").write_text("edit")
    request = ClaimRequest(
        "Trip",
        "bundle",
        (inbox / "Trip" / "a.mp4",),
        inbox / "Trip" / "notes.txt",
        folder=inbox / "Trip",
    )
    folder = claim(request, work)
    assert folder is not None and not (inbox / "Trip").exists()
    undo(folder, folder.load())
    assert sorted(p.name for p in (inbox / "Trip").iterdir()) == ["a.mp4", "notes.txt"]
    assert not folder.path.exists()


def test_numbered_names_never_reuse_a_taken_one(tmp_path: Path) -> None:
    names = numbered(tmp_path, "clip", ".mp4")
    assert [next(names).name for _ in range(3)] == ["clip.mp4", "clip (2).mp4", "clip (3).mp4"]


def test_job_folder_paths(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path / "j")
    assert folder.files == tmp_path / "j" / "files"
