"""Every code of the API page's error table reaches its documented outcome.

Each test arms the emulator's fault plan (or triggers one of its actions)
against a real `nemowatch run` process, then checks what became of the job
(delivered, failed with a reason, or held while the daemon is paused) and
what the daemon sent, from the emulator's journal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemonkit import Daemon, header, wait_for

from nemowatch.emulator import EmulatorServer

PAIR_TEXT = "Trim the silences and add a title"


def drop_pair(daemon: Daemon, video: Path, name: str, text: str = PAIR_TEXT) -> None:
    daemon.note(f"{name}.txt", text)
    daemon.drop(video, f"{name}.mp4")


def delivered(daemon: Daemon, name: str, timeout: float = 40) -> Path:
    result = daemon.outbox / f"{name}.mp4"
    wait_for(result.exists, timeout, f"{result.name} in the outbox")
    return result


def paused(daemon: Daemon, timeout: float = 20) -> str:
    """The pause reason once status.json shows one."""
    reason: str = wait_for(lambda: daemon.status().get("paused"), timeout, "the daemon to pause")
    return reason


def accepted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls the API answered with success (HTTP 200, no error code)."""
    return [r for r in records if r["status"] == 200 and r["code"] in (None, 0)]


def ok_credit_checks(daemon: Daemon) -> int:
    return len(accepted(daemon.calls("credits")))


def assert_failed_with(daemon: Daemon, name: str, code: int, *, first: str, advice: str) -> str:
    """The job failed into `<failed>/NAME/` with its originals, its log and a clear error.txt."""
    folder = wait_for(lambda: (daemon.failed / name / "error.txt").exists(), 40, "error.txt")
    assert folder
    names = {p.name for p in (daemon.failed / name).iterdir()}
    assert {f"{name}.mp4", f"{name}.txt", "error.txt", "job.log"} <= names, names
    text = daemon.error_of(name)
    lines = text.splitlines()
    sentence = lines[0]
    assert first in sentence, sentence
    assert sentence.strip() and "Traceback" not in text and "Error(" not in sentence
    assert sentence.rstrip().endswith("."), f"not one sentence: {sentence!r}"
    assert sentence.count(". ") == 0, f"more than one sentence: {sentence!r}"
    assert "Stage: session" in lines, lines
    assert f"API code: {code}" in lines, lines
    (todo,) = [line for line in lines if line.startswith("What to do: ")]
    assert advice in todo, todo
    assert "nmv_usr_" not in text
    return text


# -- 1001 -----------------------------------------------------------------------


def test_1001_on_an_anonymous_token_gets_a_new_one_with_the_same_client_id(
    daemon: Daemon, sample_video: Path
) -> None:
    control = daemon.emulator.control
    daemon.start()
    wait_for(lambda: ok_credit_checks(daemon), 15, "the first credit check with a token")
    control.action("expire_tokens")
    drop_pair(daemon, sample_video, "renew")
    delivered(daemon, "renew")
    assert daemon.stop() == 0

    client_id = (daemon.root / "client_id").read_text().strip()
    tokens = daemon.calls("anonymous_token")
    assert len(tokens) == 2, "one token at start, one renewal"
    assert [header(t, "X-Client-Id") for t in tokens] == [client_id, client_id]
    assert [t["code"] for t in tokens] == [0, 0]
    journal = control.journal()
    rejected = [r for r in journal if r["code"] == 1001]
    assert rejected, "a call was answered 1001"
    for record in rejected:
        repeats = [
            r for r in journal if r["endpoint"] == record["endpoint"] and r["seq"] > record["seq"]
        ]
        assert accepted(repeats), f"{record['endpoint']} was repeated with the new token"
    assert daemon.calls("run_sse") and len(accepted(daemon.calls("run_sse"))) == 1
    assert daemon.failures() == []


def test_1001_on_a_users_token_pauses_and_keeps_the_job(
    make_daemon: Callable[..., Daemon], emulator: EmulatorServer, sample_video: Path
) -> None:
    token = "nmv_usr_" + uuid.uuid4().hex  # the user's own token, known to the emulator
    emulator.control.set(user_tokens={token: {"credits": 500}})
    daemon = make_daemon(api={"token": token}).start()
    wait_for(lambda: ok_credit_checks(daemon), 15, "the token to work at first")
    emulator.control.action("expire_tokens")  # the user revoked it
    drop_pair(daemon, sample_video, "mine")

    reason = paused(daemon)
    assert "token" in reason and ("NEMO_TOKEN" in reason or "api.token" in reason), reason
    # Still paused after several more checks, the job still waiting in the work folder.
    checks = len(daemon.calls("credits"))
    wait_for(lambda: len(daemon.calls("credits")) >= checks + 3, 15, "three more checks")
    assert "token" in (daemon.status().get("paused") or "")
    (job,) = daemon.work_jobs()
    assert job["name"] == "mine" and job["stage"] == "claimed"
    assert job["held"] and "token" in job["held"]
    assert daemon.failures() == []
    assert daemon.calls("run_sse") == [] and daemon.calls("upload") == []
    assert daemon.calls("anonymous_token") == [], "a user's token is never swapped silently"
    assert daemon.stop() == 0
    log = daemon.log_text()
    assert "pausing all paid work" in log
    for text in (log, (daemon.state / "status.json").read_text()):
        assert token not in text


# -- 1002 -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["lose_sessions after upload", "1002 on run_sse"])
def test_1002_starts_the_job_over_in_a_new_session(
    daemon: Daemon, sample_video: Path, how: str
) -> None:
    control = daemon.emulator.control
    if how == "1002 on run_sse":
        control.add_faults([{"endpoint": "run_sse", "code": 1002}])
    daemon.start()
    drop_pair(daemon, sample_video, "lost")
    if how == "lose_sessions after upload":
        wait_for(lambda: accepted(daemon.calls("upload")), 30, "the upload to be answered")
        control.action("lose_sessions")
    delivered(daemon, "lost")
    assert daemon.stop() == 0

    assert len(accepted(daemon.calls("session"))) == 2, "a second session"
    assert [r for r in control.journal() if r["code"] == 1002], "the loss was noticed"
    uploads = accepted(daemon.calls("upload"))
    assert len(uploads) == 2, "the files were uploaded again into the new session"
    first_session, second_session = (u["path"].rsplit("/", 1)[-1] for u in uploads)
    assert first_session != second_session
    (render,) = accepted(daemon.calls("render_submit"))
    assert render["body"]["sessionId"] == second_session
    turns = daemon.calls("run_sse")
    assert turns[-1]["body"]["session_id"] == second_session
    assert "starting over in a new session" in daemon.log_text()
    assert daemon.failures() == []


# -- 2001 -----------------------------------------------------------------------


def test_2001_pauses_until_credits_are_back_and_the_turn_is_paid_once(
    daemon: Daemon, sample_video: Path
) -> None:
    control = daemon.emulator.control
    # The turn is refused with 2001; while its answer is on the way the balance
    # drops to 0, so the periodic check sees an account that really cannot pay.
    control.add_faults([{"endpoint": "run_sse", "code": 2001, "delay_seconds": 1.5}])
    daemon.start()
    drop_pair(daemon, sample_video, "broke")
    wait_for(lambda: daemon.calls("run_sse"), 30, "the turn to be sent")
    control.action("set_credits", value=0)

    reason = paused(daemon)
    client_id = (daemon.root / "client_id").read_text().strip()
    assert "out of credits" in reason and f"?bind={client_id}" in reason, reason
    wait_for(
        lambda: daemon.log_text().count("still out of credits") >= 2, 15, "two checks, still short"
    )
    (job,) = daemon.work_jobs()
    assert job["stage"] == "uploaded" and job["held"], job
    assert daemon.failures() == [] and daemon.outputs() == []

    control.action("set_credits", value=500)
    delivered(daemon, "broke")
    assert daemon.stop() == 0
    turns = daemon.calls("run_sse")
    assert [t["code"] for t in turns if t["code"]] == [2001]
    assert len(accepted(turns)) == 1, "exactly one turn was accepted (the refused one cost nothing)"
    assert "resuming paid work" in daemon.log_text()
    assert daemon.failures() == []


# -- 4001, 4002, 403: the job's own problem ---------------------------------------


@pytest.mark.parametrize(
    ("code", "fault", "knobs", "first", "advice"),
    [
        (
            4001,
            {"endpoint": "upload", "code": 4001},
            {},
            "does not accept this type of file",
            "mp4, mov, avi, webm, mkv",
        ),
        (
            4002,
            None,
            {"max_upload_mb": 0.01},  # the emulator's real limit, not an injected code
            "too large",
            "Compress or trim",
        ),
        (
            403,
            {"endpoint": "upload", "http_status": 403},
            {},
            "token",
            "scope",
        ),
    ],
    ids=["4001", "4002", "403"],
)
def test_an_upload_refused_for_the_job_itself_fails_it_with_a_reason(
    daemon: Daemon,
    sample_video: Path,
    code: int,
    fault: dict[str, Any] | None,
    knobs: dict[str, Any],
    first: str,
    advice: str,
) -> None:
    control = daemon.emulator.control
    if fault:
        control.add_faults([fault])
    if knobs:
        control.set(**knobs)
    daemon.start()
    drop_pair(daemon, sample_video, "refused")
    assert_failed_with(daemon, "refused", code, first=first, advice=advice)
    assert daemon.stop() == 0
    uploads = daemon.calls("upload")
    assert len(uploads) == 1, "not retried: the same upload would be refused again"
    assert uploads[0]["code"] == code
    assert daemon.calls("run_sse") == []
    assert daemon.outputs() == [] and daemon.work_jobs() == []
    assert not (daemon.inbox / "refused.mp4").exists()


# -- 400 ------------------------------------------------------------------------


def test_400_on_the_anonymous_token_call_makes_a_new_client_id(
    daemon: Daemon, sample_video: Path
) -> None:
    old = str(uuid.uuid4())
    (daemon.root / "client_id").write_text(old + "\n")
    daemon.emulator.control.add_faults([{"endpoint": "anonymous_token", "http_status": 400}])
    daemon.start()
    drop_pair(daemon, sample_video, "fresh")
    delivered(daemon, "fresh")
    assert daemon.stop() == 0

    new = (daemon.root / "client_id").read_text().strip()
    assert new != old
    uuid.UUID(new)
    tokens = daemon.calls("anonymous_token")
    assert [(header(t, "X-Client-Id"), t["status"]) for t in tokens] == [(old, 400), (new, 200)]
    assert daemon.failures() == []


# -- 402 ------------------------------------------------------------------------


def test_402_on_export_holds_the_edited_job_and_resumes_at_export(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.add_faults(
        [{"endpoint": "render_submit", "http_status": 402, "times": 1}]
    )
    daemon.start()
    drop_pair(daemon, sample_video, "plan")
    delivered(daemon, "plan")
    assert daemon.stop() == 0

    submits = daemon.calls("render_submit")
    assert [s["status"] for s in submits] == [402, 200]
    assert len(daemon.calls("session")) == 1, "the held job kept its session"
    assert submits[1]["body"]["sessionId"] == submits[0]["body"]["sessionId"]
    turns = daemon.calls("run_sse")
    assert len(turns) == 1, "the paid edit was not sent again"
    assert turns[0]["finished_at"] <= submits[0]["started_at"], "held after its edit"
    log = daemon.log_text()
    assert "pausing all paid work" in log
    pause_line = next(line for line in log.splitlines() if "pausing all paid work" in line)
    assert "plan" in pause_line, pause_line
    assert "plan: held at rendering" in log
    assert "resuming paid work" in log
    assert daemon.failures() == []


# -- 429 ------------------------------------------------------------------------


def test_429_on_the_anonymous_token_call_pauses_with_the_nemo_token_advice(
    daemon: Daemon, sample_video: Path
) -> None:
    control = daemon.emulator.control
    control.add_faults([{"endpoint": "anonymous_token", "http_status": 429, "times": 0}])
    daemon.start()
    drop_pair(daemon, sample_video, "quota")

    reason = paused(daemon)
    assert "quota" in reason and "NEMO_TOKEN" in reason, reason
    (job,) = daemon.work_jobs()
    assert job["name"] == "quota" and job["held"], job
    assert daemon.failures() == []
    assert daemon.calls("session") == [] and daemon.calls("run_sse") == []

    control.clear_faults()  # the quota window passed: the next check resumes by itself
    delivered(daemon, "quota")
    assert daemon.stop() == 0
    assert daemon.failures() == []
    assert len(accepted(daemon.calls("run_sse"))) == 1


# -- transient: 429 elsewhere, 5xx --------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "statuses"),
    [
        ({"endpoint": "state", "http_status": 429, "retry_after": 0.1}, [429, 200]),
        ({"endpoint": "credits", "http_status": 429, "retry_after": 0.1, "times": 2}, None),
        ({"endpoint": "session", "http_status": 503, "times": 2}, [503, 503, 200]),
    ],
    ids=["429-state", "429-credits", "503-session"],
)
def test_a_transient_answer_is_retried_and_the_job_delivered(
    daemon: Daemon, sample_video: Path, fault: dict[str, Any], statuses: list[int] | None
) -> None:
    daemon.emulator.control.add_faults([fault])
    daemon.start()
    drop_pair(daemon, sample_video, "retried")
    delivered(daemon, "retried")
    assert daemon.stop() == 0

    calls = daemon.calls(fault["endpoint"])
    got = [c["status"] for c in calls]
    if statuses is not None:
        assert got[: len(statuses)] == statuses, got
    else:
        assert got.count(fault["http_status"]) == fault["times"], got
    if fault["endpoint"] == "state":  # one caller: the repeat waited for the Retry-After
        first = next(i for i, c in enumerate(calls) if c["status"] == 429)
        assert calls[first + 1]["started_at"] - calls[first]["finished_at"] >= 0.09
    assert "retry 1 of" in daemon.log_text()
    assert len(accepted(daemon.calls("run_sse"))) == 1
    assert daemon.failures() == []
