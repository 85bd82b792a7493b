"""Every error code's outcome, stream drops, silent turns, recovery, render retry, holds.

Faults come from the emulator's fault plan (or its actions: expired tokens,
lost sessions, an empty account). A condition of the account holds the job
where it stands (`Outcome.HELD`, `job.held` naming the condition); the test
releases the condition and runs the pipeline again, as the worker pool does
when the daemon's probe releases it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from jobkit import (
    CREDITS,
    RECOVERY_WAITS,
    TURN_COST,
    FakeClock,
    MakeClient,
    MakeContext,
    MakeJob,
    Run,
    accepted,
    calls,
    header,
    milestones,
    names,
    session_of,
)
from pydantic import SecretStr

from nemowatch.api import NemoClient
from nemowatch.conditions import Conditions, Work
from nemowatch.config import Settings
from nemowatch.emulator import EmulatorServer
from nemowatch.jobs import events
from nemowatch.jobs.context import Outcome
from nemowatch.jobs.model import JobStage, TurnState
from nemowatch.jobs.pipeline import MAX_SESSION_RESTARTS


def error_lines(settings: Settings, name: str = "clip") -> list[str]:
    """error.txt of a failed job, after checking the failed folder holds what it should."""
    failed = settings.folders.failed / name
    assert names(failed) == sorted(
        [f"{name}.mp4", f"{name}.txt", "error.txt", "job.json", "job.log"]
    )
    text = (failed / "error.txt").read_text()
    assert "Traceback" not in text and "nmv_usr_" not in text
    return text.splitlines()


def held_event(collected: list[events.JobEvent]) -> events.Held:
    (held,) = [e for e in collected if isinstance(e, events.Held)]
    return held


# -- 1001 --------------------------------------------------------------------------------


async def test_1001_on_an_anonymous_token_gets_a_new_one_with_the_same_client_id(
    run: Run, make_job: MakeJob, emu: EmulatorServer, client: NemoClient, settings: Settings
) -> None:
    await client.credits()  # a token in hand
    emu.control.action("expire_tokens")
    emu.control.clear_journal()

    assert await run(make_job()) is Outcome.DONE
    client_id = settings.api.client_id_file.read_text().strip()
    (renewal,) = calls(emu, "anonymous_token")
    assert header(renewal, "X-Client-Id") == client_id and renewal["code"] == 0
    journal = calls(emu)
    (rejected,) = [r for r in journal if r["code"] == 1001]
    repeats = [r for r in journal if r["endpoint"] == rejected["endpoint"]]
    assert accepted(repeats), f"{rejected['endpoint']} was repeated with the new token"
    assert len(accepted(calls(emu, "run_sse"))) == 1


async def test_1001_on_the_users_token_holds_all_api_work_and_keeps_the_job(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    settings: Settings,
    make_client: MakeClient,
    make_ctx: MakeContext,
    conditions: Conditions,
    collected: list,
) -> None:
    token = "nmv_usr_" + uuid.uuid4().hex  # the user's own token, known to the emulator
    emu.control.set(user_tokens={token: {"credits": 500}})
    emu.control.action("expire_tokens")  # the user revoked it
    settings.api = settings.api.model_copy(update={"token": SecretStr(token)})
    context = make_ctx(make_client(settings))
    folder = make_job()

    assert await run(folder, context=context) is Outcome.HELD
    job = folder.load()
    assert job.held == "token" and job.stage is JobStage.CLAIMED
    condition = conditions.get("token")
    assert condition is not None and condition.holds == Work.API
    assert "NEMO_TOKEN" in condition.reason
    assert held_event(collected).condition == "token"
    assert calls(emu, "anonymous_token") == [], "a user's token is never swapped silently"
    assert calls(emu, "upload") == [] and calls(emu, "run_sse") == []
    for text in (condition.reason, folder.log_file.read_text(), folder.journal.read_text()):
        assert token not in text


# -- 1002 --------------------------------------------------------------------------------


async def test_1002_before_any_turn_starts_the_job_over_in_a_new_session(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="nemowatch")
    folder = make_job()
    assert await run(folder, crash_at=JobStage.UPLOADED) is None
    lost = folder.load().session_id
    emu.control.action("lose_sessions")

    assert await run(folder) is Outcome.DONE
    sessions = accepted(calls(emu, "session"))
    assert len(sessions) == 2, "a second session"
    uploads = accepted(calls(emu, "upload"))
    assert [session_of(u) for u in uploads][0] == lost
    assert session_of(uploads[-1]) != lost, "the files were uploaded again into the new one"
    (turn,) = calls(emu, "run_sse")
    (render,) = calls(emu, "render_submit")
    assert session_of(turn) == session_of(render) == session_of(uploads[-1])
    assert "starting over in a new session" in caplog.text
    assert (settings.folders.outbox / "clip.mp4").is_file()


async def test_1002_refusing_the_turn_starts_over_and_the_turn_is_paid_once(
    run: Run, make_job: MakeJob, emu: EmulatorServer, client: NemoClient
) -> None:
    emu.control.add_faults([{"endpoint": "run_sse", "code": 1002}])
    assert await run(make_job()) is Outcome.DONE
    turns = calls(emu, "run_sse")
    assert [t["code"] for t in turns] == [1002, None]
    assert session_of(turns[0]) != session_of(turns[1])
    assert len(accepted(calls(emu, "session"))) == 2
    assert (await client.credits()).available == CREDITS - TURN_COST


async def test_1002_again_and_again_fails_the_job_after_the_last_restart(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, collected: list
) -> None:
    emu.control.add_faults([{"endpoint": "upload", "code": 1002, "times": 0}])
    assert await run(make_job()) is Outcome.FAILED
    assert len(calls(emu, "session")) == MAX_SESSION_RESTARTS + 1
    assert len(calls(emu, "upload")) == MAX_SESSION_RESTARTS + 1
    assert calls(emu, "run_sse") == []
    lines = error_lines(settings)
    assert lines[0].startswith("The editing session was lost")
    assert "Stage: session" in lines and "API code: 1002" in lines
    assert milestones(collected)[-1] == ("Failed", "session")


async def test_1002_after_a_paid_turn_fails_the_job_without_paying_again(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    folder = make_job()
    assert await run(folder, crash_at=JobStage.EDITED) is None
    emu.control.action("lose_sessions")
    emu.control.clear_journal()

    assert await run(folder) is Outcome.FAILED
    assert calls(emu, "run_sse") == [], "the paid edit is not sent again"
    assert calls(emu, "session") == [] and calls(emu, "upload") == []
    lines = error_lines(settings)
    assert lines[0].startswith("The editing session was lost")
    assert "Stage: edited" in lines and "API code: 1002" in lines
    (todo,) = [line for line in lines if line.startswith("What to do: ")]
    assert "nemowatch retry clip" in todo


# -- 2001 and the credit floor ---------------------------------------------------------------


async def test_2001_holds_paid_turns_puts_the_turn_back_and_charges_nothing(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    client: NemoClient,
    conditions: Conditions,
    settings: Settings,
    collected: list,
) -> None:
    emu.control.add_faults([{"endpoint": "run_sse", "code": 2001}])
    folder = make_job()

    assert await run(folder) is Outcome.HELD
    job = folder.load()
    assert job.held == "credits" and job.stage is JobStage.UPLOADED
    assert job.turns[0].state is TurnState.PENDING, "refused before any work: not sent"
    condition = conditions.get("credits")
    assert condition is not None and condition.holds == Work.PAID_TURNS
    client_id = settings.api.client_id_file.read_text().strip()
    assert "out of credits" in condition.reason and f"?bind={client_id}" in condition.reason
    held = held_event(collected)
    assert (held.stage, held.condition) == (JobStage.UPLOADED, "credits")
    assert (await client.credits()).available == CREDITS, "the refused turn cost nothing"

    conditions.release("credits")
    assert await run(folder) is Outcome.DONE
    assert [t["code"] for t in calls(emu, "run_sse")] == [2001, None]
    assert (await client.credits()).available == CREDITS - TURN_COST, "paid once"
    assert len(calls(emu, "upload")) == 1, "resumed where it stood"


async def test_a_balance_under_min_credits_holds_the_job_before_its_turn_after_uploading(
    run: Run, make_job: MakeJob, emu: EmulatorServer, conditions: Conditions
) -> None:
    emu.control.set(credits=10)  # the new anonymous account holds 10
    folder = make_job()

    assert await run(folder) is Outcome.HELD
    assert folder.load().stage is JobStage.UPLOADED, "uploads run ahead of the hold"
    assert folder.load().held == "credits"
    assert calls(emu, "run_sse") == []

    emu.control.action("set_credits", 500)
    conditions.release("credits")
    assert await run(folder) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1


async def test_a_held_job_stays_held_without_calling_the_api_until_released(
    run: Run, make_job: MakeJob, emu: EmulatorServer, conditions: Conditions
) -> None:
    emu.control.set(credits=10)
    folder = make_job()
    assert await run(folder) is Outcome.HELD
    emu.control.clear_journal()

    assert await run(folder) is Outcome.HELD
    assert calls(emu) == []
    assert folder.load().held == "credits"


async def test_an_active_credits_condition_lets_a_new_job_upload_and_holds_its_turn(
    run: Run, make_job: MakeJob, emu: EmulatorServer, conditions: Conditions
) -> None:
    conditions.raise_("credits", "out of credits: top up", Work.PAID_TURNS)
    folder = make_job()
    assert await run(folder) is Outcome.HELD
    assert folder.load().stage is JobStage.UPLOADED
    assert [r["endpoint"] for r in calls(emu)] == ["anonymous_token", "session", "upload"]


# -- 4001, 4002, 403: the job's own problem --------------------------------------------


@pytest.mark.parametrize(
    ("code", "fault", "knobs", "first", "advice"),
    [
        (
            4001,
            {"endpoint": "upload", "code": 4001},
            {},
            "NemoVideo does not accept this type of file",
            "mp4, mov, avi, webm, mkv",
        ),
        (
            4002,
            None,
            {"max_upload_mb": 0.001},  # the emulator's real limit, not an injected code
            "The file is too large for NemoVideo",
            "Compress or trim",
        ),
        (
            403,
            {"endpoint": "upload", "http_status": 403},
            {},
            "The API token is not allowed",
            "scope",
        ),
    ],
    ids=["4001", "4002", "403"],
)
async def test_an_upload_refused_for_the_job_itself_fails_it_with_a_reason(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    settings: Settings,
    collected: list,
    code: int,
    fault: dict[str, Any] | None,
    knobs: dict[str, Any],
    first: str,
    advice: str,
) -> None:
    if fault:
        emu.control.add_faults([fault])
    if knobs:
        emu.control.set(**knobs)
    folder = make_job()

    assert await run(folder) is Outcome.FAILED
    lines = error_lines(settings)
    sentence = lines[0]
    assert sentence.startswith(first), sentence
    assert sentence.endswith(".") and "Error(" not in sentence
    assert "Stage: session" in lines and f"API code: {code}" in lines
    (todo,) = [line for line in lines if line.startswith("What to do: ")]
    assert advice in todo, todo
    (upload,) = calls(emu, "upload")
    assert upload["code"] == code, "not retried: the same upload would be refused again"
    assert calls(emu, "run_sse") == []
    assert not folder.path.exists() and names(settings.folders.outbox) == []
    failed = [e for e in collected if isinstance(e, events.Failed)]
    assert [(f.stage, f.code) for f in failed] == [("session", code)]


# -- 400 on the token call -------------------------------------------------------------


async def test_400_on_the_anonymous_token_call_makes_a_new_client_id(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    old = str(uuid.uuid4())
    settings.api.client_id_file.parent.mkdir(parents=True, exist_ok=True)
    settings.api.client_id_file.write_text(old + "\n")
    emu.control.add_faults([{"endpoint": "anonymous_token", "http_status": 400}])

    assert await run(make_job()) is Outcome.DONE
    new = settings.api.client_id_file.read_text().strip()
    assert new != old
    uuid.UUID(new)
    tokens = calls(emu, "anonymous_token")
    assert [(header(t, "X-Client-Id"), t["status"]) for t in tokens] == [(old, 400), (new, 200)]


# -- 402 on export -----------------------------------------------------------------------


async def test_402_on_export_holds_the_edited_job_and_resumes_at_export_without_paying_again(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    client: NemoClient,
    conditions: Conditions,
    settings: Settings,
    collected: list,
) -> None:
    emu.control.add_faults([{"endpoint": "render_submit", "http_status": 402}])
    folder = make_job()

    assert await run(folder) is Outcome.HELD
    job = folder.load()
    assert (job.stage, job.held) == (JobStage.RENDERING, "plan")
    condition = conditions.get("plan")
    assert condition is not None and condition.holds == Work.EXPORTS
    assert "upgrade the plan" in condition.reason
    assert held_event(collected).stage is JobStage.RENDERING

    conditions.release("plan")
    assert await run(folder) is Outcome.DONE
    submits = calls(emu, "render_submit")
    assert [s["status"] for s in submits] == [402, 200]
    assert [s["body"]["id"] for s in submits] == [job.render_id] * 2
    assert session_of(submits[1]) == session_of(submits[0]), "the held job kept its session"
    assert len(calls(emu, "session")) == 1 and len(calls(emu, "run_sse")) == 1
    assert (await client.credits()).available == CREDITS - TURN_COST, "the edit paid once"
    assert (settings.folders.outbox / "clip.mp4").is_file()


# -- 429 --------------------------------------------------------------------------------


async def test_429_on_the_anonymous_token_call_holds_all_api_work_with_the_nemo_token_advice(
    run: Run, make_job: MakeJob, emu: EmulatorServer, conditions: Conditions
) -> None:
    emu.control.add_faults([{"endpoint": "anonymous_token", "http_status": 429, "times": 0}])
    folder = make_job()

    assert await run(folder) is Outcome.HELD
    assert (folder.load().stage, folder.load().held) == (JobStage.CLAIMED, "quota")
    condition = conditions.get("quota")
    assert condition is not None and condition.holds == Work.API
    assert "quota" in condition.reason and "NEMO_TOKEN" in condition.reason
    assert len(calls(emu, "anonymous_token")) == 1, "the weekly quota is not retried"
    assert calls(emu, "session") == []

    emu.control.clear_faults()  # the quota window passed
    conditions.release("quota")
    assert await run(folder) is Outcome.DONE
    assert len(accepted(calls(emu, "run_sse"))) == 1


async def test_429_on_the_turn_puts_it_back_and_sends_it_after_the_wait(
    run: Run, make_job: MakeJob, emu: EmulatorServer, clock: FakeClock, client: NemoClient
) -> None:
    emu.control.add_faults([{"endpoint": "run_sse", "http_status": 429, "retry_after": 7}])
    assert await run(make_job()) is Outcome.DONE
    assert [t["status"] for t in calls(emu, "run_sse")] == [429, 200]
    assert 7 in clock.sleeps, "Retry-After honoured"
    assert (await client.credits()).available == CREDITS - TURN_COST


# -- transient faults ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "statuses", "wait"),
    [
        ({"endpoint": "session", "http_status": 503, "times": 2}, [503, 503, 200], None),
        ({"endpoint": "upload", "http_status": 502}, [502, 200], None),
        ({"endpoint": "state", "http_status": 429, "retry_after": 7}, [429, 200], 7),
        ({"endpoint": "credits", "http_status": 429, "times": 2}, [429, 429, 200], 30),
        ({"endpoint": "render_submit", "http_status": 500}, [500, 200], None),
        ({"endpoint": "render_poll", "http_status": 503}, [503, 200], None),
    ],
    ids=["503-session", "502-upload", "429-state", "429-credits", "500-submit", "503-poll"],
)
async def test_a_transient_answer_is_retried_and_the_job_delivered(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    settings: Settings,
    clock: FakeClock,
    caplog: Any,
    fault: dict[str, Any],
    statuses: list[int],
    wait: float | None,
) -> None:
    emu.control.add_faults([fault])
    assert await run(make_job()) is Outcome.DONE
    got = [c["status"] for c in calls(emu, fault["endpoint"])]
    assert got[: len(statuses)] == statuses, got
    if wait is not None:
        assert wait in clock.sleeps, "Retry-After, or the documented 30 s for a bare 429"
    assert "retry 1 of" in caplog.text
    assert len(accepted(calls(emu, "run_sse"))) == 1
    assert (settings.folders.outbox / "clip.mp4").is_file()


async def test_a_failed_output_link_falls_back_to_the_api_download_path(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    emu.control.add_faults([{"endpoint": "output", "drop_after_bytes": 100}])
    assert await run(make_job()) is Outcome.DONE
    assert calls(emu, "output")[0]["aborted"]
    assert len(accepted(calls(emu, "render_download"))) == 1
    assert names(settings.folders.outbox) == ["clip.mp4", "clip.report.txt", "originals"]


async def test_a_server_error_that_outlasts_the_retries_fails_the_job_with_its_code(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    # 0: no trying again later (tests/jobs/test_network_holds.py has the minutes of trying)
    settings.jobs.transient_give_up_minutes = 0
    emu.control.add_faults([{"endpoint": "session", "http_status": 503, "times": 0}])
    assert await run(make_job()) is Outcome.FAILED
    assert len(calls(emu, "session")) == settings.jobs.retries + 1
    lines = error_lines(settings)
    assert "API code: 503" in lines and "Stage: claimed" in lines


async def test_a_server_error_on_the_turn_is_never_resent_and_the_project_is_read(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings, clock: FakeClock
) -> None:
    emu.control.add_faults([{"endpoint": "run_sse", "http_status": 503}])
    assert await run(make_job()) is Outcome.FAILED
    assert len(calls(emu, "run_sse")) == 1, "a paid call is never retried"
    assert clock.sleeps == RECOVERY_WAITS
    first = error_lines(settings)[0]  # the service's fault, not the instructions
    assert first.startswith("NemoVideo failed while applying the instructions (")
    assert "503" in first and "did not change" in first


# -- stream drops, silent turns, recovery ---------------------------------------------------


async def test_a_stream_dropped_after_the_edit_landed_is_verified_not_resent(
    run: Run, make_job: MakeJob, emu: EmulatorServer, client: NemoClient, collected: list
) -> None:
    # tool call, tool result, four chunks, then (once the edit landed) the whole answer
    emu.control.add_faults([{"endpoint": "run_sse", "drop_after_events": 7}])
    assert await run(make_job()) is Outcome.DONE
    (turn,) = calls(emu, "run_sse")
    assert turn["aborted"]
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.verified
    assert (await client.credits()).available == CREDITS - TURN_COST


async def test_a_stream_dropped_mid_turn_is_recovered_once_the_edit_lands(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    client: NemoClient,
    make_ctx: MakeContext,
    clock: FakeClock,
    collected: list,
) -> None:
    emu.control.set(turn_seconds=0.2)  # the edit lands ~0.1 s after the drop
    emu.control.add_faults([{"endpoint": "run_sse", "drop_after_events": 1}])

    async def sleep_while_the_turn_runs(seconds: float) -> None:
        """The fake wait; meanwhile the backend goes on: wait (really, with a
        deadline) until the turn has settled its cost."""
        await clock.sleep(seconds)
        async with asyncio.timeout(5):
            while (await client.credits()).frozen:
                await asyncio.sleep(0.01)

    context = make_ctx(client)
    context.sleep = sleep_while_the_turn_runs
    assert await run(make_job(), context=context) is Outcome.DONE
    (turn,) = calls(emu, "run_sse")
    assert turn["aborted"]
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.verified
    assert clock.sleeps[0] == RECOVERY_WAITS[0]


async def test_an_error_event_after_the_edit_landed_is_verified_by_reading_the_project(
    run: Run, make_job: MakeJob, emu: EmulatorServer, collected: list
) -> None:
    emu.control.add_faults([{"endpoint": "run_sse", "error_event": True, "lands": True}])
    assert await run(make_job()) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.verified


@pytest.mark.parametrize("checks", [5, 2])
async def test_a_stream_dropped_before_the_edit_landed_fails_after_the_last_check(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    settings: Settings,
    client: NemoClient,
    clock: FakeClock,
    checks: int,
) -> None:
    settings.api.recovery_max_checks = checks
    emu.control.add_faults([{"endpoint": "run_sse", "drop_after_events": 1, "lands": False}])
    folder = make_job()

    assert await run(folder) is Outcome.FAILED
    assert len(calls(emu, "run_sse")) == 1, "never sent again"
    reads = calls(emu, "state")
    assert len(reads) == 1 + checks, "the fingerprint before the turn, then the checks"
    assert clock.sleeps == RECOVERY_WAITS[:checks]
    lines = error_lines(settings)
    assert lines[0].startswith("NemoVideo failed while applying the instructions")
    assert "Stage: uploaded" in lines
    # a plain retry would only read again: the advice names the paying form, on request
    assert any("`nemowatch retry clip --resend`" in line for line in lines)
    assert (await client.credits()).available == CREDITS, "the edit that never landed cost nothing"


async def test_a_silent_turn_is_verified_in_the_project_at_once(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    clock: FakeClock,
    settings: Settings,
    collected: list,
) -> None:
    emu.control.set(force_silent=True)
    assert await run(make_job()) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1
    assert clock.sleeps[0] == 0, "no wait: the stream has ended"
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.verified and answer.answer == ""
    report = (settings.folders.outbox / "clip.report.txt").read_text()
    assert "(no text; the change was verified in the project)" in report


# -- renders -----------------------------------------------------------------------------


async def test_a_render_that_failed_once_is_retried_with_a_new_id(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    emu.control.add_faults([{"endpoint": "render_submit", "render_fail": True}])
    assert await run(make_job()) is Outcome.DONE
    ids = [s["body"]["id"] for s in calls(emu, "render_submit")]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert [(r["id"], r["status"]) for r in emu.control.renders()] == [
        (ids[0], "failed"),
        (ids[1], "completed"),
    ]
    assert len(calls(emu, "run_sse")) == 1
    assert (settings.folders.outbox / "clip.mp4").is_file()


async def test_a_render_that_failed_twice_fails_the_job_and_the_edit_is_kept(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    emu.control.add_faults([{"endpoint": "render_submit", "render_fail": True, "times": 2}])
    assert await run(make_job()) is Outcome.FAILED
    assert len(calls(emu, "render_submit")) == 2 and len(calls(emu, "run_sse")) == 1
    lines = error_lines(settings)
    assert lines[0].startswith("NemoVideo could not render the edited video (it failed twice)")
    assert "Stage: rendering" in lines
    assert any("the edit is not paid again" in line for line in lines)
    failed_journal = (settings.folders.failed / "clip" / "job.json").read_text()
    assert '"session_id": "ses_' in failed_journal, "the session is kept for `retry`"


async def test_a_download_that_is_not_a_video_is_never_delivered(
    run: Run, make_job: MakeJob, emu: EmulatorServer, settings: Settings
) -> None:
    # without ffmpeg the emulator's render is the uploaded bytes: here, an error page
    folder = make_job(video=b"<html>503 Service Unavailable</html>\n" * 10)
    assert await run(folder) is Outcome.FAILED
    assert names(settings.folders.outbox) == [], "nothing published, no temporary file left"
    assert calls(emu, "output") and calls(emu, "render_download"), "the fallback was tried"
    assert "Stage: downloading" in error_lines(settings)


# -- holds on any step -------------------------------------------------------------------


async def test_an_account_error_on_a_step_its_condition_does_not_hold_holds_the_job(
    run: Run, make_job: MakeJob, emu: EmulatorServer, conditions: Conditions
) -> None:
    # a 402 while polling: "plan" holds exports, and the job waits for its release
    emu.control.add_faults([{"endpoint": "render_poll", "http_status": 402, "times": 0}])
    folder = make_job()
    assert await run(folder) is Outcome.HELD
    assert len(calls(emu, "render_poll")) == 1, "no busy loop against the API"
    assert (folder.load().stage, folder.load().held) == (JobStage.RENDERING, "plan")

    emu.control.clear_faults()
    conditions.release("plan")
    assert await run(folder) is Outcome.DONE
    assert len(calls(emu, "render_submit")) == 1, "the render submitted before is polled"
