"""An ended job's folder is put aside and becomes the next claim's, whole or not at all."""

from __future__ import annotations

from pathlib import Path

from nemowatch.jobs import reuse
from nemowatch.jobs.claim import ClaimRequest, claim, resumable
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import JobStage


def pair(inbox: Path, name: str) -> ClaimRequest:
    (inbox / f"{name}.mp4").write_bytes(b"video")
    (inbox / f"{name}.txt").write_text("edit")
    return ClaimRequest(name, "pair", (inbox / f"{name}.mp4",), inbox / f"{name}.txt")


def ended(work: Path, inbox: Path, name: str) -> JobFolder:
    """A job claimed, noted, journaled done and archived (its files moved away)."""
    folder = claim(pair(inbox, name), work)
    assert folder is not None
    end(folder)
    return folder


def end(folder: JobFolder) -> None:
    job = folder.load()
    with folder.log_kept_open():
        folder.note(job, f"{job.name}: a line of the old job")
        job.stage = JobStage.DONE
        folder.save(job)
        for path in folder.files.iterdir():
            path.unlink()  # as the archive moves them
        reuse.put_aside(folder)
        folder.note(job, "a line after the folder was put aside")  # reaches no file


def test_the_next_claim_takes_an_ended_jobs_folder_with_nothing_of_the_old_job(
    tmp_path: Path,
) -> None:
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    old = ended(work, inbox, "first")
    aside = work / reuse.REUSE / old.path.name
    assert sorted(p.name for p in aside.iterdir()) == [".job.json.spare", "job.json", "job.log"]
    assert not old.path.exists()
    inode = (aside / "job.json").stat().st_ino

    new = claim(pair(inbox, "second"), work)
    assert new is not None and new.path != old.path
    assert list((work / reuse.REUSE).iterdir()) == [], "taken"
    assert inode in {p.stat().st_ino for p in new.path.iterdir()}, "the same files"
    job = new.load()
    assert (job.name, job.stage, job.id) == ("second", JobStage.CLAIMED, new.path.name)
    assert new.log_file.read_text() == "", "the old job's log was emptied"
    assert sorted(p.name for p in new.files.iterdir()) == ["second.mp4", "second.txt"]
    assert [f.path for f in resumable(work, set())] == [new.path]


def test_a_burst_keeps_all_its_folders_until_trimmed_to_a_few(tmp_path: Path) -> None:
    """Jobs claimed at once end before any next claim: each ended folder is kept (no
    removal while jobs run); `trim`, once none runs, leaves `KEEP`. A folder holding
    anything else is removed at once."""
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    running = [claim(pair(inbox, f"job{i}"), work) for i in range(reuse.KEEP + 5)]
    for folder in running:
        assert folder is not None
        end(folder)
    assert len(list((work / reuse.REUSE).iterdir())) == reuse.KEEP + 5
    assert reuse.trim(work) == 5
    assert len(list((work / reuse.REUSE).iterdir())) == reuse.KEEP
    assert reuse.trim(work) == 0
    odd = claim(pair(inbox, "odd"), work)
    assert odd is not None
    (odd.path / "notes.bak").write_text("someone's file")
    reuse.put_aside(odd)
    assert not odd.path.exists()
    assert not (work / reuse.REUSE / odd.path.name).exists(), "removed, not kept"


def test_a_half_taken_folder_is_never_resumed_and_goes_at_the_next_start(tmp_path: Path) -> None:
    """A crash after the claim's journal was written into the folder it took, before
    that folder got the job's name: no scan of the work folder sees that job."""
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    ended(work, inbox, "first")
    (aside,) = (work / reuse.REUSE).iterdir()
    taken = aside.rename(aside.with_name(f"20270101-000000-second-abc{reuse.TAKEN}"))
    job = JobFolder(taken).load()
    job.stage, job.name = JobStage.CLAIMED, "second"
    JobFolder(taken).save(job)
    assert resumable(work, set()) == []
    kept = claim(pair(inbox, "third"), work)
    assert kept is not None and kept.path.parent == work, "a half-taken folder is not taken"
    assert taken.exists()
    reuse.clear(work)
    assert not taken.exists()


def test_a_folder_that_cannot_be_taken_leaves_the_claim_to_a_new_one(tmp_path: Path) -> None:
    inbox, work = tmp_path / "in", tmp_path / "work"
    inbox.mkdir()
    ended(work, inbox, "first")
    (aside,) = (work / reuse.REUSE).iterdir()
    (aside / "job.log").unlink()
    (aside / "job.log").mkdir()  # the old log cannot be emptied
    folder = claim(pair(inbox, "a"), work)
    assert folder is not None and folder.path.parent == work
    assert folder.load().name == "a" and not folder.log_file.exists(), "a new folder"
    assert list((work / reuse.REUSE).iterdir()) == [], "the broken one was removed"
