"""How a job ends: the failed folder and error.txt, the report, the originals, the outbox.

Most run the whole pipeline (against the emulator) so that what is checked is
what a user finds in the folders; the report and error.txt are also checked
on their own.
"""

from __future__ import annotations

from pathlib import Path
from unittest.mock import Mock

import pytest
from jobkit import NOTE, VIDEO, MakeContext, MakeJob, Run, calls, milestones, names
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from devkit.waits import wait_for
from nemowatch.api import NemoClient
from nemowatch.config import Settings
from nemowatch.emulator import EmulatorServer
from nemowatch.jobs import finish
from nemowatch.jobs import results as finish_results
from nemowatch.jobs.context import Outcome
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Failure, Job, JobStage, Turn, TurnState
from nemowatch.status import recent_failures


def failed_lines(settings: Settings, folder_name: str = "clip") -> list[str]:
    return (settings.folders.failed / folder_name / "error.txt").read_text().splitlines()


# -- failures before anything is paid ---------------------------------------------------


async def test_a_job_with_a_problem_fails_before_any_call_with_that_reason(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, collected: list
) -> None:
    problem = "Two videos (a.mp4, b.mp4) share clip.txt; keep one of them and drop it again."
    folder = make_job(problem=problem)

    assert await run(folder) is Outcome.FAILED
    assert calls(emu) == [], "nothing was sent, not even for a token"
    failed = settings.folders.failed / "clip"
    assert names(failed) == ["clip.mp4", "clip.txt", "error.txt", "job.json", "job.log"]
    assert (failed / "clip.mp4").read_bytes() == VIDEO
    lines = failed_lines(settings)
    assert lines[0] == problem
    assert "Stage: claimed" in lines and "API code: none" in lines
    assert "What to do: Fix the file as described and drop the job into the inbox again." in lines
    assert f"Job: {folder.path.name}" in lines
    assert "failed at claimed" in (failed / "job.log").read_text()
    assert not folder.path.exists()
    assert milestones(collected) == [("Failed", "claimed")]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("   \n", "clip.txt is empty; write what the editor should do."),
        ("---\n---\n", "The instructions hold only separator lines; write what to do."),
    ],
    ids=["blank", "only-separators"],
)
async def test_unusable_instructions_fail_the_job_before_a_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, text: str, first: str
) -> None:
    assert await run(make_job(text=text)) is Outcome.FAILED
    assert calls(emu) == []
    assert failed_lines(settings)[0] == first


async def test_a_failed_folder_name_already_taken_gets_a_number(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    earlier = settings.folders.failed / "clip"
    earlier.mkdir(parents=True)
    (earlier / "error.txt").write_text("an earlier failure\n")

    assert await run(make_job(problem="Bad.")) is Outcome.FAILED
    assert (earlier / "error.txt").read_text() == "an earlier failure\n", "never overwritten"
    assert failed_lines(settings, "clip (2)")[0] == "Bad."


# -- success ------------------------------------------------------------------------------


async def test_a_result_name_taken_in_the_outbox_gets_a_number_and_the_old_one_stays(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    outbox = settings.folders.outbox
    outbox.mkdir(parents=True)
    (outbox / "clip.mp4").write_bytes(b"an earlier result")

    assert await run(make_job()) is Outcome.DONE
    assert (outbox / "clip.mp4").read_bytes() == b"an earlier result"
    assert (outbox / "clip (2).mp4").read_bytes() == VIDEO
    report = (outbox / "clip (2).report.txt").read_text()
    assert f"Result: {outbox / 'clip (2).mp4'}" in report


@pytest.mark.parametrize("after", ["archive", "keep", "delete"])
async def test_the_originals_after_success_go_where_jobs_after_success_says(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, after: str
) -> None:
    settings.jobs.after_success = after  # type: ignore[assignment]
    folder = make_job()
    assert await run(folder) is Outcome.DONE

    archived = settings.folders.archive_dir / folder.path.name
    assert names(archived) == (["clip.mp4", "clip.txt"] if after == "archive" else [])
    if after == "keep":
        assert names(folder.files) == ["clip.mp4", "clip.txt"]
        assert folder.load().stage is JobStage.DONE
    else:
        assert not folder.path.exists()
    assert (settings.folders.outbox / "clip.mp4").is_file()


async def test_without_a_report_no_web_link_is_asked_for(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    settings.jobs.write_report = False
    assert await run(make_job()) is Outcome.DONE
    assert calls(emu, "claim_token") == []
    assert names(settings.folders.outbox) == ["clip.mp4", "originals"]


async def test_a_submitted_job_leaves_the_users_files_and_its_journal_where_they_are(
    run: Run,
    emu: EmulatorServer,
    settings: Settings,
    client: NemoClient,
    make_ctx: MakeContext,
) -> None:
    mine = settings.folders.inbox.parent / "mine"
    mine.mkdir(parents=True)
    video = mine / "holiday.mp4"
    video.write_bytes(VIDEO)
    folder = JobFolder(settings.folders.work_dir / "20260101-000000-holiday-0001")
    folder.path.mkdir(parents=True)
    job = Job(
        id=folder.path.name,
        name="holiday",
        kind="submit",
        media=[str(video)],
        turns=[Turn(text=NOTE)],
    )
    folder.save(job)
    context = make_ctx(client, results=finish.SubmitResults())

    assert await run(folder, context=context) is Outcome.DONE
    assert video.read_bytes() == VIDEO and names(mine) == ["holiday.mp4"]
    assert folder.load().stage is JobStage.DONE
    assert (settings.folders.outbox / "holiday.mp4").is_file()
    assert names(settings.folders.archive_dir) == []


async def test_a_submitted_job_that_fails_leaves_the_users_files_and_says_why(
    run: Run, emu: EmulatorServer, settings: Settings, client: NemoClient, make_ctx: MakeContext
) -> None:
    emu.control.add_faults([{"endpoint": "upload", "code": 4001}])
    video = settings.folders.inbox.parent / "holiday.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(VIDEO)
    folder = JobFolder(settings.folders.work_dir / "20260101-000000-holiday-0001")
    folder.path.mkdir(parents=True)
    job = Job(id=folder.path.name, name="holiday", kind="submit", media=[str(video)])
    job.turns = [Turn(text=NOTE)]
    folder.save(job)
    context = make_ctx(client, results=finish.SubmitResults())

    assert await run(folder, context=context) is Outcome.FAILED
    assert video.is_file()
    failure = folder.load().failure
    assert failure is not None and failure.code == 4001
    assert names(settings.folders.failed) == []


# -- the report and error.txt on their own ------------------------------------------------


def test_the_report_holds_the_instructions_the_answers_the_timeline_the_link_and_timings() -> None:
    first, second = Turn(text="Rough cut\nkeep the laughs"), Turn(text="Add music")
    for turn in (first, second):
        turn.move_to(TurnState.SENT)
        turn.move_to(TurnState.ANSWERED)
    first.answer = "I cut it down to 40 seconds."
    second.verified = True  # a silent turn
    job = Job(
        id="j",
        name="clip",
        kind="pair",
        media=["clip.mp4"],
        turns=[first, second],
        result="/out/clip.mp4",
        summary="Timeline (1 tracks): 1. Video: clip (0-10s)",
        created_at=1000.0,
        reached={"session": 1001.0, "uploaded": 1003.5, "delivered": 1030.0},
    )
    report = finish.render_report(job, "https://nemovideo.com/workspace/claim?ct=clm_x")
    lines = report.splitlines()
    assert lines[0] == "nemowatch report: clip"
    assert "Result: /out/clip.mp4" in lines
    assert ["  Turn 1:", "    Rough cut", "    keep the laughs", "  Turn 2:", "    Add music"] == (
        lines[lines.index("Instructions:") + 1 : lines.index("Instructions:") + 6]
    )
    assert "    I cut it down to 40 seconds." in lines
    assert "    (no text; the change was verified in the project)" in lines
    assert "Timeline (1 tracks): 1. Video: clip (0-10s)" in lines
    assert "Open in the web editor: https://nemovideo.com/workspace/claim?ct=clm_x" in lines
    assert "  claimed -> session: 1.0 s" in lines
    assert "  uploaded -> delivered: 26.5 s" in lines
    assert "  total: 30.0 s" in lines


def test_error_txt_is_a_sentence_then_stage_code_advice_and_the_job() -> None:
    job = Job(id="j1", name="clip", kind="pair", media=["clip.mp4"])
    job.failure = Failure(
        message="The file is too large for NemoVideo.",
        stage="session",
        code=4002,
        advice="Compress or trim it.",
    )
    assert finish.error_text(job) == (
        "The file is too large for NemoVideo.\n"
        "\n"
        "Stage: session\n"
        "API code: 4002\n"
        "What to do: Compress or trim it.\n"
        "Job: j1\n"
    )


def test_a_local_error_on_a_claimed_file_names_it_by_its_place_in_the_inbox(
    make_job: MakeJob, settings: Settings
) -> None:
    import errno

    folder = make_job()
    job = folder.load()
    work_path = folder.files / "clip.mp4"
    denied = PermissionError(errno.EACCES, "Permission denied", str(work_path))
    finish.fail(folder, job, denied, settings, finish.InboxResults())
    lines = failed_lines(settings)
    inbox_path = job.origins["clip.mp4"]
    assert (
        lines[0] == f"nemowatch is not allowed to read or write {inbox_path} (permission denied)."
    )
    assert ".nemowatch" not in lines[0]
    assert any(line.startswith("What to do: Give the user nemowatch runs as") for line in lines)


async def test_a_report_written_before_a_crash_is_kept_not_written_twice(
    run: Run, make_job: MakeJob, settings: Settings
) -> None:
    """The steps after delivery are not journaled when the job's folder goes: a crash
    after the report was written finds it again by its first lines."""
    folder = make_job()
    assert await run(folder, crash_at=JobStage.DELIVERED) is None
    job = folder.load()
    assert job.result is not None and job.report is None
    report = settings.folders.outbox / "clip.report.txt"
    report.write_text(finish.render_report(job, "https://example.invalid/before-the-crash"))

    assert await run(folder) is Outcome.DONE
    assert sorted(p.name for p in settings.folders.outbox.glob("*report*")) == [
        "clip.report.txt"
    ], "a second report, numbered"
    assert "before-the-crash" in report.read_text()
    assert not folder.path.exists()


async def test_a_kept_job_folder_keeps_a_journal_that_says_done(
    run: Run, make_job: MakeJob, settings: Settings
) -> None:
    settings.jobs.after_success = "keep"
    folder = make_job()
    assert await run(folder) is Outcome.DONE
    job = folder.load()
    assert job.stage is JobStage.DONE
    assert job.report == str(settings.folders.outbox / "clip.report.txt")


# -- the failed folder appears whole --------------------------------------------------


async def test_the_failed_folder_appears_whole_by_one_rename(
    run: Run, make_job: MakeJob, settings: Settings
) -> None:
    """A person, a sync tool or the web page that sees the folder sees its reason too:
    it is filled under a hidden name and arrives by one rename (inotify shows no folder
    made under its own name)."""
    failed = settings.folders.failed
    failed.mkdir(parents=True, exist_ok=True)
    seen: list[FileSystemEvent] = []
    handler = FileSystemEventHandler()
    handler.on_any_event = seen.append  # type: ignore[method-assign]
    observer = Observer()
    observer.schedule(handler, str(failed), recursive=False)
    observer.start()
    try:
        assert await run(make_job(problem="Bad.")) is Outcome.FAILED
        wait_for(lambda: any(isinstance(e, DirMovedEvent) for e in seen), 5, "the rename")
    finally:
        observer.stop()
        observer.join(5)
    made = [e.src_path for e in seen if isinstance(e, DirCreatedEvent)]
    assert all(Path(str(p)).name.startswith(finish.STAGING) for p in made), made
    (moved,) = [e for e in seen if isinstance(e, DirMovedEvent)]
    assert Path(str(moved.dest_path)) == failed / "clip"
    assert names(failed / "clip") == ["clip.mp4", "clip.txt", "error.txt", "job.json", "job.log"]
    assert [p.name for p in failed.iterdir()] == ["clip"], "nothing left under a hidden name"


def failing(make_job: MakeJob) -> tuple[JobFolder, Job]:
    folder = make_job()
    job = folder.load()
    job.failure = Failure(message="Bad.", stage="claimed", advice="`nemowatch retry clip` ...")
    job.move_to(JobStage.FAILED)
    folder.save(job)
    return folder, job


def test_a_crash_while_the_failed_folder_is_filled_is_finished_after_the_restart(
    make_job: MakeJob, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, job = failing(make_job)
    failed = settings.folders.failed
    with monkeypatch.context() as patch:
        patch.setattr(finish, "publish_folder", Mock(side_effect=OSError("killed here")))
        with pytest.raises(OSError, match="killed here"):
            finish.InboxResults().failed(folder, job, settings)
    (staging,) = failed.iterdir()
    assert staging.name.startswith(".") and "clip.mp4" in names(staging), "hidden, not lost"
    assert recent_failures(failed) == [], "no failed job is shown without its reason"

    finish.tidy(folder, folder.load(), settings, finish.InboxResults())
    assert names(failed) == ["clip"]
    assert names(failed / "clip") == ["clip.mp4", "clip.txt", "error.txt", "job.json"]
    assert (failed / "clip" / "error.txt").read_text().startswith("Bad.")
    assert not folder.path.exists()


def test_a_crash_after_the_rename_does_not_make_a_second_failed_folder(
    make_job: MakeJob, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, job = failing(make_job)
    with monkeypatch.context() as patch:
        patch.setattr(finish.reuse, "put_aside", Mock(side_effect=OSError("killed here")))
        with pytest.raises(OSError, match="killed here"):
            finish.InboxResults().failed(folder, job, settings)
    assert folder.path.is_dir(), "the job's folder is still there, its journal says failed"

    finish.tidy(folder, folder.load(), settings, finish.InboxResults())
    assert names(settings.folders.failed) == ["clip"], "not a second, numbered folder"
    assert not (folder.path / "files").exists()


def test_a_name_taken_while_the_folder_was_filled_gets_the_next_number_and_says_so(
    make_job: MakeJob, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone makes `clip` between the choice of the name and the rename: it is never
    replaced, not even when empty, and error.txt names the folder it is really in."""
    folder, job = failing(make_job)
    failed = settings.folders.failed
    rename_new = finish_results.rename_new

    def taken_first(src: Path, dest: Path) -> bool:
        if dest.name == "clip":
            dest.mkdir()
        return rename_new(src, dest)

    monkeypatch.setattr(finish_results, "rename_new", taken_first)
    finish.InboxResults().failed(folder, job, settings)
    assert names(failed / "clip") == [], "the folder made meanwhile is left alone"
    assert "`nemowatch retry 'clip (2)'`" in (failed / "clip (2)" / "error.txt").read_text()
