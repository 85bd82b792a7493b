"""The pipeline in-process: a job delivered, and every row of DESIGN.md's resume table.

A row's journal is made the way a crash makes it: the pipeline runs until it
has journaled the stage, then "dies" (`crash_at`); a new pipeline resumes
from the journal on disk. The emulator's request journal says what each run
sent: above all, a paid turn is never sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from jobkit import (
    NOTE,
    RECOVERY_WAITS,
    VIDEO,
    FakeClock,
    MakeJob,
    Run,
    accepted,
    calls,
    endpoints,
    milestones,
    names,
    session_of,
)

from nemowatch.api import NemoClient
from nemowatch.conditions import Work
from nemowatch.config import Settings
from nemowatch.emulator import EmulatorServer
from nemowatch.jobs import events
from nemowatch.jobs.context import Context, Outcome, needs
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage, Turn, TurnState

#: what a new job sends, in order
WHOLE_RUN = [
    "anonymous_token",
    "session",
    "upload",
    "credits",
    "state",
    "run_sse",
    "credits",  # the balance after the last turn: what the job cost
    "state",
    "render_submit",
    "render_poll",
    "output",
    "claim_token",
]


def delivered(settings: Settings, folder: JobFolder, name: str = "clip") -> None:
    """The result and its report in the outbox, the originals archived, the work folder gone."""
    outbox = settings.folders.outbox
    assert (outbox / f"{name}.mp4").read_bytes() == VIDEO
    assert (outbox / f"{name}.report.txt").is_file()
    assert names(settings.folders.archive_dir / folder.path.name) == [f"{name}.mp4", f"{name}.txt"]
    assert not folder.path.exists()
    assert names(outbox) == [f"{name}.mp4", f"{name}.report.txt", "originals"], "no temp file"


async def test_a_new_job_is_delivered_with_its_report_and_its_originals_archived(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, collected: list
) -> None:
    folder = make_job()
    assert await run(folder) is Outcome.DONE

    delivered(settings, folder)
    report = (settings.folders.outbox / "clip.report.txt").read_text()
    assert NOTE in report
    assert "Open in the web editor: https://nemovideo.com/workspace/claim?ct=clm_" in report
    assert "nmv_usr_" not in report, "the API token never appears in a report"
    sent = endpoints(emu)
    polls = sent.count("render_poll")  # one or more, as the emulator's thread gets to it
    assert sent == WHOLE_RUN[:10] + ["render_poll"] * (polls - 1) + WHOLE_RUN[10:]
    assert accepted(calls(emu)) == calls(emu)
    assert milestones(collected) == [
        ("StageReached", "session"),
        ("StageReached", "uploaded"),
        ("StageReached", "edited"),
        ("TurnAnswered", "turn 1"),
        ("StageReached", "rendering"),
        ("StageReached", "downloading"),
        ("StageReached", "delivered"),
        ("StageReached", "done"),
        ("Delivered", ""),
    ]
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.answer and not answer.verified
    (done,) = [e for e in collected if isinstance(e, events.Delivered)]
    assert done.result == str(settings.folders.outbox / "clip.mp4")
    assert {e.what for e in collected if isinstance(e, events.Progress)} >= {"upload", "download"}


async def test_turns_split_by_dashes_are_sent_one_after_another_in_one_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer
) -> None:
    folder = make_job(text="Rough cut, keep the best takes\n---\nNow add the title 'Two'\n")
    assert await run(folder) is Outcome.DONE
    turns = calls(emu, "run_sse")
    assert [t["body"]["new_message"]["parts"][0]["text"] for t in turns] == [
        "Rough cut, keep the best takes",
        "Now add the title 'Two'",
    ]
    assert len({session_of(t) for t in turns}) == 1


# -- the resume table ------------------------------------------------------------------


async def test_a_job_journaled_at_claimed_creates_a_session_and_goes_on(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert folder.load().stage is JobStage.CLAIMED
    assert await run(folder) is Outcome.DONE
    assert len(calls(emu, "session")) == 1
    delivered(settings, folder)


async def test_a_job_journaled_at_session_uploads_into_that_same_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.SESSION) is None
    job = folder.load()
    assert job.stage is JobStage.SESSION and job.session_id and job.turns
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert calls(emu, "session") == []
    (upload,) = calls(emu, "upload")
    assert session_of(upload) == job.session_id
    assert len(calls(emu, "run_sse")) == 1
    delivered(settings, folder)


async def test_a_job_journaled_at_uploaded_sends_turn_1_without_uploading_again(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.UPLOADED) is None
    job = folder.load()
    assert job.turns[0].state is TurnState.PENDING
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert calls(emu, "session") == [] and calls(emu, "upload") == []
    (turn,) = calls(emu, "run_sse")
    assert session_of(turn) == job.session_id
    delivered(settings, folder)


async def test_turn_k_not_yet_sent_is_sent_and_the_answered_turns_are_not(
    run: Run, make_job: MakeJob, emu: EmulatorServer, collected: list
) -> None:
    folder = make_job(text="First pass\n---\nSecond pass\n---\nThird pass")

    def first_answered(event: events.JobEvent) -> bool:
        return isinstance(event, events.TurnAnswered) and event.index == 0

    assert await run(folder, crash_when=first_answered) is None
    job = folder.load()
    assert [t.state for t in job.turns] == [TurnState.ANSWERED, TurnState.PENDING] + [
        TurnState.PENDING
    ]
    emu.control.clear_journal()
    collected.clear()

    assert await run(folder) is Outcome.DONE
    texts = [t["body"]["new_message"]["parts"][0]["text"] for t in calls(emu, "run_sse")]
    assert texts == ["Second pass", "Third pass"]
    answered = [(e.index, e.count) for e in collected if isinstance(e, events.TurnAnswered)]
    assert answered == [(1, 3), (2, 3)]


async def sent_before_the_crash(
    run: Run, folder: JobFolder, client: NemoClient, *, landed: bool
) -> Job:
    """Journal turn 1 as sent, as the pipeline does just before sending it; when
    `landed`, the crashed process got the turn out and the edit landed."""
    assert await run(folder, crash_at=JobStage.UPLOADED) is None
    job = folder.load()
    assert job.session_id
    turn = job.turns[0]
    turn.fingerprint_before = (await client.get_state(job.session_id)).fingerprint()
    turn.move_to(TurnState.SENT)
    folder.save(job)
    if landed:
        await client.send_turn(job.session_id, turn.text)
    return job


async def test_turn_k_sent_without_answer_is_not_sent_again_and_the_change_is_verified(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    client: NemoClient,
    clock: FakeClock,
    settings: Settings,
    collected: list,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="nemowatch")
    folder = make_job()
    await sent_before_the_crash(run, folder, client, landed=True)
    emu.control.clear_journal()
    collected.clear()

    assert await run(folder) is Outcome.DONE
    assert calls(emu, "run_sse") == [], "a turn journaled as sent is never sent again"
    assert clock.sleeps[0] == RECOVERY_WAITS[0], "the first read waits as the API page says"
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.verified
    assert "was sent before a restart; reading the project, not sending again" in caplog.text
    report = (settings.folders.outbox / "clip.report.txt").read_text()
    assert "(no text; the change was verified in the project)" in report
    delivered(settings, folder)


async def test_turn_k_sent_without_answer_and_an_unchanged_project_fails_with_a_reason(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    client: NemoClient,
    clock: FakeClock,
    settings: Settings,
    collected: list,
) -> None:
    folder = make_job()
    await sent_before_the_crash(run, folder, client, landed=False)
    emu.control.clear_journal()
    clock.sleeps.clear()
    collected.clear()

    assert await run(folder) is Outcome.FAILED
    assert calls(emu, "run_sse") == []
    assert len(calls(emu, "state")) == settings.api.recovery_max_checks
    assert clock.sleeps == RECOVERY_WAITS
    failed = settings.folders.failed / "clip"
    assert names(failed) == ["clip.mp4", "clip.txt", "error.txt", "job.json", "job.log"]
    lines = (failed / "error.txt").read_text().splitlines()
    assert lines[0] == "The editor did not apply the instructions: the project never changed."
    assert "Stage: uploaded" in lines and "API code: none" in lines
    assert not folder.path.exists()
    assert milestones(collected)[-1] == ("Failed", "uploaded")


async def test_a_job_journaled_at_edited_exports_without_sending_a_turn(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.EDITED) is None
    job = folder.load()
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert calls(emu, "run_sse") == []
    (submit,) = calls(emu, "render_submit")
    assert session_of(submit) == job.session_id
    assert submit["body"]["draft"]["t"], "the draft read from the project"
    delivered(settings, folder)


async def test_the_export_waits_for_the_draft_to_stay_unchanged_for_the_settle_time(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, clock: FakeClock
) -> None:
    settings.export.state_settle_seconds = 5
    folder = make_job()
    assert await run(folder, crash_at=JobStage.EDITED) is None
    emu.control.clear_journal()
    clock.sleeps.clear()

    assert await run(folder) is Outcome.DONE
    reads = calls(emu, "state")
    assert len(reads) == 6, "ready at once, then unchanged for 5 s of reads a second apart"
    assert clock.sleeps[:5] == [1.0] * 5
    assert reads[-1]["seq"] < calls(emu, "render_submit")[0]["seq"]


async def test_a_job_journaled_at_rendering_renders_its_journaled_id(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.RENDERING) is None
    job = folder.load()
    assert job.render_id and not job.render_submitted
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert calls(emu, "run_sse") == []
    assert [c["body"]["id"] for c in calls(emu, "render_submit")] == [job.render_id]
    assert {c["path"].rsplit("/", 1)[-1] for c in calls(emu, "render_poll")} == {job.render_id}
    delivered(settings, folder)


async def submitted_before_the_crash(run: Run, folder: JobFolder, client: NemoClient) -> Job:
    """A job journaled at rendering whose render the crashed process had submitted."""
    assert await run(folder, crash_at=JobStage.RENDERING) is None
    job = folder.load()
    assert job.session_id and job.render_id
    draft = (await client.get_state(job.session_id)).draft
    await client.start_render(job.session_id, draft, job.render_id)
    return job


async def test_a_render_submitted_before_a_crash_is_not_rendered_a_second_time(
    run: Run, make_job: MakeJob, emu: EmulatorServer, client: NemoClient, settings: Settings
) -> None:
    folder = make_job()
    job = await submitted_before_the_crash(run, folder, client)
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert [r["id"] for r in emu.control.renders()] == [job.render_id], "one render, same id"
    assert {c["path"].rsplit("/", 1)[-1] for c in calls(emu, "render_poll")} == {job.render_id}
    assert calls(emu, "run_sse") == []
    delivered(settings, folder)


async def test_a_restart_in_rendering_polls_the_journaled_render_before_submitting(
    run: Run, make_job: MakeJob, emu: EmulatorServer, client: NemoClient, settings: Settings
) -> None:
    folder = make_job()
    await submitted_before_the_crash(run, folder, client)
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    render_calls = [e for e in endpoints(emu) if e.startswith("render")]
    assert render_calls[0] == "render_poll"
    assert "render_submit" not in render_calls, "the service knew the id"
    delivered(settings, folder)


async def test_a_journaled_render_the_service_does_not_know_is_submitted(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.RENDERING) is None
    job = folder.load()
    job.render_submitted = True  # journaled so when a hold came after the submission
    folder.save(job)
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert [c["body"]["id"] for c in calls(emu, "render_submit")] == [job.render_id]
    delivered(settings, folder)


async def test_a_job_journaled_at_downloading_downloads_again_without_rendering_again(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.DOWNLOADING) is None
    job = folder.load()
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert calls(emu, "render_submit") == [] and calls(emu, "run_sse") == []
    assert [c["path"].rsplit("/", 1)[-1] for c in calls(emu, "render_poll")] == [job.render_id]
    assert len(accepted(calls(emu, "output"))) == 1
    delivered(settings, folder)


async def test_a_name_taken_during_the_download_gives_the_result_the_next_name(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    """The result's name was free when the download began and taken before its link."""
    folder = make_job()
    assert await run(folder, crash_at=JobStage.DOWNLOADING) is None
    emu.control.add_faults([{"endpoint": "output", "delay_seconds": 1}])
    outbox = settings.folders.outbox
    outbox.mkdir(parents=True, exist_ok=True)

    async def take_the_name() -> None:
        while not calls(emu, "output"):
            await asyncio.sleep(0.02)
        (outbox / "clip.mp4").write_bytes(b"the user's own file")

    taker = asyncio.create_task(take_the_name())
    assert await run(folder) is Outcome.DONE
    await taker
    assert (outbox / "clip.mp4").read_bytes() == b"the user's own file", "never overwritten"
    assert (outbox / "clip (2).mp4").stat().st_size > 0
    assert not [p.name for p in outbox.iterdir() if p.name.startswith(".")]
    assert len(accepted(calls(emu, "output"))) == 1, "the whole file took the next name"


async def test_a_job_journaled_at_delivered_finishes_the_moves_without_calling_for_the_result(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.DELIVERED) is None
    job = folder.load()
    assert job.result == str(settings.folders.outbox / "clip.mp4") and not job.report
    assert names(folder.files) == ["clip.mp4", "clip.txt"], "the originals are still there"
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert endpoints(emu) == ["claim_token"], "only the link for the report"
    delivered(settings, folder)


async def test_a_crash_in_the_middle_of_archiving_finishes_the_moves(
    run: Run, make_job: MakeJob, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.DELIVERED) is None
    archive = settings.folders.archive_dir / folder.path.name
    archive.mkdir(parents=True)
    (folder.files / "clip.mp4").rename(archive / "clip.mp4")  # moved before the crash

    assert await run(folder) is Outcome.DONE
    delivered(settings, folder)


async def test_a_journal_written_before_versions_resumes_where_it_stood(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.UPLOADED) is None
    data = json.loads(folder.journal.read_text())
    del data["version"]  # as nemowatch wrote it before an upgrade in the middle of the job
    folder.journal.write_text(json.dumps(data))
    emu.control.clear_journal()

    assert await run(folder) is Outcome.DONE
    assert calls(emu, "session") == [] and calls(emu, "upload") == []
    assert len(calls(emu, "run_sse")) == 1
    delivered(settings, folder)


# -- stopping and needs ---------------------------------------------------------------


async def test_a_stop_request_stops_the_job_at_a_checkpoint_and_it_resumes_later(
    run: Run, make_job: MakeJob, emu: EmulatorServer, ctx: Context, collected: list
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.UPLOADED) is None
    emu.control.clear_journal()
    ctx.stopping.set()

    assert await run(folder) is Outcome.STOPPED
    assert calls(emu) == [], "nothing sent once stopping"
    assert folder.load().stage is JobStage.UPLOADED
    assert isinstance(collected[-1], events.Stopped)

    ctx.stopping.clear()
    assert await run(folder) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1


async def test_a_stop_request_lets_a_delivered_job_finish_its_moves(
    run: Run, make_job: MakeJob, emu: EmulatorServer, ctx: Context, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.DELIVERED) is None
    ctx.stopping.set()
    assert await run(folder) is Outcome.DONE
    delivered(settings, folder)


@pytest.mark.parametrize(
    ("stage", "submitted", "answered", "work"),
    [
        (JobStage.CLAIMED, False, False, Work.API_CALLS),
        (JobStage.SESSION, False, False, Work.API_CALLS),
        (JobStage.UPLOADED, False, False, Work.PAID_TURNS | Work.FIRST_TURNS),
        (JobStage.UPLOADED, False, True, Work.API_CALLS),
        (JobStage.EDITED, False, True, Work.EXPORTS),
        (JobStage.RENDERING, False, True, Work.EXPORTS),
        (JobStage.RENDERING, True, True, Work.API_CALLS),
        (JobStage.DOWNLOADING, True, True, Work.API_CALLS | Work.DELIVERIES),
        (JobStage.DELIVERED, True, True, Work.DELIVERIES),
    ],
)
def test_what_a_jobs_next_step_needs_is_what_a_condition_may_hold(
    stage: JobStage, submitted: bool, answered: bool, work: Work
) -> None:
    turn = Turn(text="t")
    if answered:
        turn.move_to(TurnState.SENT)
        turn.move_to(TurnState.ANSWERED)
    job = Job(id="j", name="n", kind="pair", media=["n.mp4"], stage=stage, turns=[turn])
    job.render_submitted = submitted
    assert needs(job) == work
