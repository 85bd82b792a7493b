"""Account conditions as a running daemon shows them: paused in `status`, resumed by itself.

Each test arms the emulator's fault plan (or triggers one of its actions)
against a real `nemowatch run` process and checks what only a running daemon
shows: the pause in the status file while the daemon keeps probing, no
secret in it, and the resume by itself once the cause has passed. What the
pipeline decides for each code of the API page's error table is tested
in-process, in tests/jobs/test_pipeline_faults.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devkit.daemon import Daemon
from devkit.waits import wait_for
from nemowatch.emulator import EmulatorServer


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


# -- 1001 -----------------------------------------------------------------------


def test_1001_on_a_users_token_pauses_and_keeps_the_job(
    make_daemon: Callable[..., Daemon], emulator: EmulatorServer, sample_video: Path
) -> None:
    token = "nmv_usr_" + uuid.uuid4().hex  # the user's own token, known to the emulator
    emulator.control.set(user_tokens={token: {"credits": 500}})
    daemon = make_daemon(api={"token": token}).start()
    wait_for(lambda: ok_credit_checks(daemon), 15, "the token to work at first")
    emulator.control.action("expire_tokens")  # the user revoked it
    daemon.drop_pair(sample_video, "mine")

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
    assert "holding all API work: the configured API token was rejected" in log
    for text in (log, (daemon.state / "status.json").read_text()):
        assert token not in text


# -- 429 ------------------------------------------------------------------------


def test_429_on_the_anonymous_token_call_pauses_with_the_nemo_token_advice(
    daemon: Daemon, sample_video: Path
) -> None:
    control = daemon.emulator.control
    control.add_faults([{"endpoint": "anonymous_token", "http_status": 429, "times": 0}])
    daemon.start()
    daemon.drop_pair(sample_video, "quota")

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
