"""`nemowatch retry` as a person (or a script) runs it: the real command in a process.

A name that is not a failed job's folder exits 2 and touches nothing; paying
again says what it costs and asks, on a terminal, or needs `--yes` without
one; and a job that failed after its turn was sent is delivered after a plain
retry without that turn being sent again.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.daemon import Daemon
from devkit.processes import clean_env
from devkit.waits import wait_for
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Failure, Job, JobStage, Turn, TurnState

SESSION = "ses_kept"


def retry(
    daemon: Daemon, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`nemowatch retry ARGS`; stdin is a terminal holding `answer`, or no terminal at all."""
    command = [sys.executable, "-m", "nemowatch", "--config", str(daemon.config), "retry", *args]
    if answer is None:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=30,
            env=clean_env(),
            stdin=subprocess.DEVNULL,  # as from cron or a script: nobody to ask
            check=False,
        )
    keyboard, terminal = pty.openpty()
    try:
        os.write(keyboard, answer.encode() + b"\n")
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=30,
            env=clean_env(),
            stdin=terminal,
            check=False,
        )
    finally:
        os.close(keyboard)
        os.close(terminal)


def tree(root: Path) -> dict[str, str]:
    """Every entry under `root`: a file's text, or "/" for a folder."""
    return {
        str(p.relative_to(root)): "/" if p.is_dir() else p.read_text(errors="replace")
        for p in sorted(root.rglob("*"))
    }


def failed_with_a_sent_turn(daemon: Daemon, name: str = "clip") -> Path:
    """A failed job's folder as the daemon leaves one whose turn was sent, never answered."""
    path = daemon.failed / name
    path.mkdir(parents=True)
    (path / f"{name}.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom video")
    (path / f"{name}.txt").write_text("Add a title saying Hello")
    (path / "error.txt").write_text("The editor did not apply the instructions.\n")
    job = Job(
        id=f"20260101-000000-{name}-abcdef",
        name=name,
        kind="pair",
        media=[f"{name}.mp4"],
        instructions_file=f"{name}.txt",
        stage=JobStage.FAILED,
        turns=[
            Turn(text="Add a title saying Hello", state=TurnState.SENT, fingerprint_before="fp")
        ],
        session_id=SESSION,
        failure=Failure(message="not applied", stage="uploaded", advice="retry"),
    )
    JobFolder(path).save(job)
    return path


def the_job_put_back(daemon: Daemon) -> Job:
    (journal,) = daemon.work.glob("*/job.json")
    return Job.model_validate_json(journal.read_bytes())


@pytest.mark.parametrize("name", ["..", ""])
def test_a_name_that_is_not_a_failed_jobs_folder_exits_2_and_touches_nothing(
    daemon: Daemon, name: str
) -> None:
    failed_with_a_sent_turn(daemon)
    daemon.note("waiting.txt", "a file of the user's in the inbox")
    before = tree(daemon.root)

    done = retry(daemon, name)

    assert done.returncode == 2, done.stderr
    assert "not the name of a failed job" in done.stderr, done.stderr
    assert tree(daemon.root) == before


def test_resend_without_a_terminal_needs_yes_and_then_sends_the_turn_again(
    daemon: Daemon,
) -> None:
    failed_with_a_sent_turn(daemon)
    before = tree(daemon.root)

    refused = retry(daemon, "clip", "--resend")
    assert refused.returncode == 2, refused.stderr
    assert "about 50 credits" in refused.stdout, refused.stdout
    assert "add --yes" in refused.stderr, refused.stderr
    assert tree(daemon.root) == before

    done = retry(daemon, "clip", "--resend", "--yes")
    assert done.returncode == 0, done.stderr
    assert "sends turn 1 of 1 once more" in done.stdout, done.stdout
    job = the_job_put_back(daemon)
    assert job.session_id == SESSION and job.stage is JobStage.UPLOADED
    assert [t.state for t in job.turns] == [TurnState.PENDING]
    assert not (daemon.failed / "clip").exists()


def test_on_a_terminal_it_asks_before_paying_and_a_no_changes_nothing(daemon: Daemon) -> None:
    failed_with_a_sent_turn(daemon)
    before = tree(daemon.root)

    declined = retry(daemon, "clip", "--start-over", answer="n")
    assert declined.returncode == 1, declined.stderr
    assert "1 turn will be sent, about 50 credits." in declined.stdout, declined.stdout
    assert "Pay again? [y/N]" in declined.stdout, declined.stdout
    assert tree(daemon.root) == before

    done = retry(daemon, "clip", "--start-over", answer="y")
    assert done.returncode == 0, done.stderr
    job = the_job_put_back(daemon)
    assert job.session_id is None and job.stage is JobStage.CLAIMED and job.turns == []


def test_resend_and_start_over_cannot_be_asked_for_together(daemon: Daemon) -> None:
    failed_with_a_sent_turn(daemon)
    done = retry(daemon, "clip", "--resend", "--start-over", "--yes")
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr, done.stderr


def test_a_sent_turn_is_read_back_after_a_retry_and_never_sent_again(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(api={"recovery_max_checks": 1})
    control = daemon.emulator.control
    # the stream breaks at once; the edit lands only after the one recovery read
    control.set(turn_seconds=4)
    control.add_faults([{"endpoint": "run_sse", "drop_after_events": 1}])
    daemon.start()
    daemon.drop_pair(sample_video, "late")
    wait_for((daemon.failed / "late" / "error.txt").exists, 30, "the job to fail")
    assert "Stage: uploaded" in daemon.error_of("late").splitlines()
    wait_for(
        lambda: ", frozen 0," in daemon.cli("credits", "-v").stdout, 30, "the late edit to land"
    )

    done = daemon.cli("retry", "late")
    assert done.returncode == 0, done.stderr
    assert "read back from the project, not sent again" in done.stdout, done.stdout
    result = daemon.outbox / "late.mp4"
    wait_for(result.exists, 40, "the result in the outbox")
    assert daemon.stop() == 0

    assert len(daemon.calls("run_sse")) == 1, "the paid turn was sent once"
    assert "turn 1 of 1 was sent before a restart; reading the project" in daemon.log_text()
    assert len(daemon.calls("session")) == 1 and len(daemon.calls("upload")) == 1
    assert daemon.failures() == []
