"""What is uploaded is what was settled, once, in one session, before anything is paid.

- the claim checks each file against what the inbox saw when it found the job
  ready, and journals each media file's size and mtime;
- the pipeline checks them again before and after the upload: a file that
  changed is put back into the inbox, and no turn is sent for it;
- an upload whose answer was never recorded goes to a new session (free), never
  into the one that may already hold the footage.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from jobkit import NOTE, VIDEO, Crash, MakeJob, Run, accepted, calls, names, session_of

from nemowatch.api import NemoClient
from nemowatch.config import Settings
from nemowatch.emulator import EmulatorServer
from nemowatch.errors import FileChangedError
from nemowatch.jobs import events
from nemowatch.jobs.claim import claim, put_back, request_for, resumable
from nemowatch.jobs.context import Context, Outcome
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import JobStage, Turn
from nemowatch.watch.rules import Candidate


def stat_of(path: Path) -> tuple[Path, int, int]:
    info = path.stat()
    return path, info.st_size, info.st_mtime_ns


def ready_pair(inbox: Path, name: str = "clip", video: bytes = VIDEO) -> Candidate:
    """A pair in the inbox, as the inbox's plan hands it over once settled."""
    inbox.mkdir(parents=True, exist_ok=True)
    media, note = inbox / f"{name}.mp4", inbox / f"{name}.txt"
    media.write_bytes(video)
    note.write_text(NOTE, encoding="utf-8")
    return Candidate(name, "pair", (media,), note, seen_as=(stat_of(media), stat_of(note)))


def claimed(settings: Settings, candidate: Candidate) -> JobFolder:
    folder = claim(request_for(candidate), settings.folders.work_dir)
    assert folder is not None
    return folder


def uploaded_sizes(emu: EmulatorServer) -> list[list[int]]:
    return [[f["size"] for f in c["body"]["files"]] for c in accepted(calls(emu, "upload"))]


# -- the claim ---------------------------------------------------------------------------


def test_the_claim_journals_each_media_file_as_the_inbox_saw_it(settings: Settings) -> None:
    candidate = ready_pair(settings.folders.inbox)
    request = request_for(candidate)
    _, size, mtime_ns = candidate.seen_as[0]
    assert request.expected == {path: (size, mtime) for path, size, mtime in candidate.seen_as}
    job = claimed(settings, candidate).load()
    assert job.media_stat == {"clip.mp4": (size, mtime_ns)}


def test_a_file_that_changed_between_the_plan_and_the_claim_is_put_back(
    settings: Settings,
) -> None:
    inbox = settings.folders.inbox
    candidate = ready_pair(inbox)
    with (inbox / "clip.mp4").open("ab") as f:  # the copier was not done after all
        f.write(b"more")
    assert claim(request_for(candidate), settings.folders.work_dir) is None
    assert names(inbox) == ["clip.mp4", "clip.txt"]
    assert names(settings.folders.work_dir) == []


def test_a_bundle_whose_file_changed_during_the_claim_is_put_back(settings: Settings) -> None:
    inbox = settings.folders.inbox
    trip = inbox / "Trip"
    trip.mkdir(parents=True)
    (trip / "a.mp4").write_bytes(VIDEO)
    (trip / "notes.txt").write_text(NOTE)
    seen = (stat_of(trip / "a.mp4"), stat_of(trip / "notes.txt"))
    candidate = Candidate(
        "Trip", "bundle", (trip / "a.mp4",), trip / "notes.txt", folder=trip, seen_as=seen
    )
    os.utime(trip / "a.mp4", ns=(1, 1))  # the same size, another mtime
    assert claim(request_for(candidate), settings.folders.work_dir) is None
    assert names(trip) == ["a.mp4", "notes.txt"]
    assert names(settings.folders.work_dir) == []


def test_putting_back_never_replaces_a_file_that_arrived_meanwhile(settings: Settings) -> None:
    inbox = settings.folders.inbox
    folder = claimed(settings, ready_pair(inbox))
    (inbox / "clip.mp4").write_bytes(b"another clip of the same name")
    put_back(folder, folder.load())
    assert names(inbox) == ["clip (2).mp4", "clip.mp4", "clip.txt"]
    assert (inbox / "clip (2).mp4").read_bytes() == VIDEO
    assert (inbox / "clip.mp4").read_bytes() == b"another clip of the same name"
    assert not folder.path.exists()


def test_a_put_back_cut_short_by_a_crash_is_finished_at_the_next_start(
    settings: Settings,
) -> None:
    inbox = settings.folders.inbox
    folder = claimed(settings, ready_pair(inbox))
    job = folder.load()
    job.put_back = True
    folder.save(job)  # journaled, then the crash: nothing moved yet
    assert resumable(settings.folders.work_dir, set()) == []
    assert names(inbox) == ["clip.mp4", "clip.txt"]
    assert not folder.path.exists()


# -- around the upload -------------------------------------------------------------------


def appending_on_upload(ctx: Context, path: Path) -> Context:
    """A context whose first upload progress event makes `path` grow (a copier still at it)."""
    grown: list[bool] = []

    def emit(event: events.JobEvent) -> None:
        ctx.emit(event)
        if isinstance(event, events.Progress) and event.what == "upload" and not grown:
            grown.append(True)
            with path.open("ab") as f:
                f.write(b"the rest of the video")

    return dataclasses.replace(ctx, emit=emit)


async def test_a_file_changed_before_the_upload_is_put_back_without_uploading(
    run: Run, settings: Settings, emu: EmulatorServer
) -> None:
    folder = claimed(settings, ready_pair(settings.folders.inbox))
    with (folder.files / "clip.mp4").open("ab") as f:
        f.write(b"more")
    with pytest.raises(FileChangedError, match="clip.mp4 changed after its claim"):
        await run(folder)
    assert calls(emu, "upload") == [] and calls(emu, "run_sse") == []
    assert names(settings.folders.inbox) == ["clip.mp4", "clip.txt"]
    assert not folder.path.exists()


async def test_a_file_changed_during_the_upload_is_put_back_and_nothing_is_paid(
    run: Run,
    settings: Settings,
    emu: EmulatorServer,
    ctx: Context,
    client: NemoClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = settings.folders.inbox
    folder = claimed(settings, ready_pair(inbox))
    before = (await client.credits()).available
    context = appending_on_upload(ctx, folder.files / "clip.mp4")
    with caplog.at_level(logging.INFO), pytest.raises(FileChangedError):
        await run(folder, context=context)
    assert "clip.mp4 changed after upload; waiting for it to settle again" in caplog.text
    assert uploaded_sizes(emu) == [[len(VIDEO)]], "the upload itself went through"
    assert calls(emu, "run_sse") == []
    assert (await client.credits()).available == before
    assert names(inbox) == ["clip.mp4", "clip.txt"]
    assert not folder.path.exists()

    # Once settled again, it is claimed anew and delivered whole, paid once.
    grown = (inbox / "clip.mp4").read_bytes()
    again = claimed(settings, ready_pair(inbox, video=grown))
    assert await run(again) is Outcome.DONE
    assert uploaded_sizes(emu) == [[len(VIDEO)], [len(grown)]]
    first, second = accepted(calls(emu, "upload"))
    (turn,) = calls(emu, "run_sse")
    assert session_of(turn) == session_of(second) != session_of(first)


async def test_a_job_without_recorded_stats_is_not_checked(
    run: Run, make_job: MakeJob, emu: EmulatorServer
) -> None:
    # journals written before the stats were recorded (and `submit` jobs) carry none
    folder = make_job()
    assert folder.load().media_stat == {}
    assert await run(folder) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1


# -- an upload whose outcome is unknown --------------------------------------------------


async def test_an_upload_answered_but_never_journaled_goes_to_a_new_session(
    run: Run,
    settings: Settings,
    emu: EmulatorServer,
    client: NemoClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = claimed(settings, ready_pair(settings.folders.inbox))
    real_upload = client.upload

    async def upload_then_die(session_id: str, paths: Sequence[Path], **kw: Any) -> Any:
        await real_upload(session_id, paths, **kw)  # the service has the footage...
        raise Crash(session_id)  # ...and the process dies before the journal says so

    monkeypatch.setattr(client, "upload", upload_then_die)
    assert await run(folder) is None
    job = folder.load()
    assert job.stage is JobStage.SESSION and job.uploads_started == ["clip.mp4"]
    first_session = job.session_id
    monkeypatch.undo()

    with caplog.at_level(logging.INFO):
        assert await run(folder) is Outcome.DONE
    assert len(accepted(calls(emu, "session"))) == 2
    uploads = accepted(calls(emu, "upload"))
    assert [session_of(u) for u in uploads][0] == first_session
    (again,) = [u for u in uploads if session_of(u) != first_session]
    (turn,) = calls(emu, "run_sse")
    assert session_of(turn) == session_of(again), "paid in the session holding it once"
    assert f"the upload into session {first_session} has no recorded answer" in caplog.text


async def test_a_journal_with_an_upload_started_uploads_into_a_new_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer, client: NemoClient
) -> None:
    """The journal as a crash mid-upload leaves it, written by hand."""
    old = await client.create_session()
    folder = make_job(
        stage=JobStage.SESSION,
        session_id=old.session_id,
        task_id=old.task_id,
        turns=[Turn(text=NOTE)],
        uploads_started=["clip.mp4"],
    )
    emu.control.clear_journal()
    assert await run(folder) is Outcome.DONE
    assert len(calls(emu, "session")) == 1
    (upload,) = calls(emu, "upload")
    (turn,) = calls(emu, "run_sse")
    assert session_of(upload) == session_of(turn) != old.session_id


async def test_a_lost_session_on_upload_starts_over_in_one_new_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer
) -> None:
    emu.control.add_faults([{"endpoint": "upload", "code": 1002}])
    assert await run(make_job()) is Outcome.DONE
    assert len(calls(emu, "session")) == 2, "the restart's session, not one more after it"
    assert len(accepted(calls(emu, "upload"))) == 1


async def test_an_upload_whose_answer_is_lost_after_the_whole_body_goes_to_a_new_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The service took every byte, then the connection broke: it may hold the footage."""
    emu.control.add_faults([{"endpoint": "upload", "drop_after_bytes": 10**9}])
    folder = make_job()
    with caplog.at_level(logging.INFO):
        assert await run(folder) is Outcome.DONE
    sessions = accepted(calls(emu, "session"))
    assert len(sessions) == 2
    first, second = calls(emu, "upload")
    assert first.get("aborted") and session_of(first) != session_of(second)
    (turn,) = calls(emu, "run_sse")
    assert session_of(turn) == session_of(second), "paid in a session holding it once"
    assert "uploading again into a new session" in caplog.text


async def test_an_upload_cut_off_mid_body_is_retried_into_the_same_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer
) -> None:
    """Part of the body never left: the service cannot have the file; no new session."""
    emu.control.add_faults([{"endpoint": "upload", "drop_after_bytes": 100}])
    # larger than what the loopback's buffers hold, so the rest of the body never left
    folder = make_job(video=VIDEO + bytes(32 * 1024 * 1024))
    assert await run(folder) is Outcome.DONE
    assert len(accepted(calls(emu, "session"))) == 1
    first, second = calls(emu, "upload")
    assert session_of(first) == session_of(second)
