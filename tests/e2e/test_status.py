"""`nemowatch status` and `nemowatch retry`, run as a person runs them, beside a real daemon.

`status` must tell the truth while the daemon works, while it is paused, and
after it stopped; `retry` puts a failed job back in line, resuming at export
(no second paid edit) when it failed after its edit, starting over when it
never sent a turn (see test_retry_cli.py for the rest of `retry`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from devkit.daemon import Daemon, unwrap
from devkit.waits import wait_for


def status(daemon: Daemon, *, running: bool = True) -> str:
    done: subprocess.CompletedProcess[str] = daemon.cli("status")
    assert done.returncode == (0 if running else 3), done.stderr  # 3: as `systemctl status`
    assert "nmv_usr_" not in done.stdout and "Bearer" not in done.stdout
    for line in done.stdout.splitlines():  # 80 columns, but for one word that is longer
        assert len(line) <= 80 or " " not in line.strip(), line
    return unwrap(done.stdout)


def delivered(daemon: Daemon, name: str, timeout: float = 40) -> Path:
    result = daemon.outbox / f"{name}.mp4"
    wait_for(result.exists, timeout, f"{result.name} in the outbox")
    return result


def first_line_of_error(daemon: Daemon, name: str, timeout: float = 30) -> str:
    wait_for((daemon.failed / name / "error.txt").exists, timeout, f"{name} to fail")
    return daemon.error_of(name).splitlines()[0]


def test_status_shows_the_job_in_progress_and_a_video_waiting_for_instructions(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(render_seconds=3)  # long enough to look at it rendering
    daemon.start()
    daemon.drop_pair(sample_video, "busy")
    daemon.drop(sample_video, "lonely.mp4")
    wait_for(
        lambda: any(j["stage"] == "rendering" for j in daemon.status()["jobs"]),
        30,
        "the job to be rendering",
    )
    out = status(daemon)
    assert "nemowatch is running" in out, out
    assert "  busy: waiting for the render" in out, out
    assert "lonely.mp4: waiting for instructions: add lonely.txt" in out, out
    assert "PAUSED" not in out
    delivered(daemon, "busy")
    assert daemon.stop() == 0


def test_status_says_paused_and_why_and_shows_the_held_job(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(credits=0)  # the account cannot pay for an edit (2001)
    daemon.start()
    daemon.drop_pair(sample_video, "waiting")
    wait_for(lambda: daemon.status().get("paused"), 20, "the pause")
    out = status(daemon)
    assert "nemowatch is running" in out, out
    assert "PAUSED since " in out and ": out of credits" in out, out
    client_id = (daemon.root / "client_id").read_text().strip()
    assert f"?bind={client_id}" in out, "how to register"
    assert "credits: 0" in out, out
    assert daemon.failures() == []
    # "each job with its stage": the held job is still a job of this daemon.
    assert "  waiting: held: out of credits" in out, out
    assert daemon.stop() == 0


def test_status_after_the_daemon_stopped_lists_failures_and_unfinished_jobs(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(credits=0)  # keeps one job unfinished in the work folder
    daemon.start()
    daemon.drop_pair(sample_video, "unpaid")
    daemon.drop_pair(sample_video, "blank", text="")
    reason = first_line_of_error(daemon, "blank")
    wait_for(lambda: any(j["stage"] == "uploaded" for j in daemon.work_jobs()), 20, "the held job")
    assert daemon.stop() == 0

    out = status(daemon, running=False)
    assert "nemowatch is not running" in out, out
    assert f"jobs waiting in {daemon.work}: 1" in out, out
    assert "  unpaid: uploaded (held: out of credits" in out, out
    assert "recent failures:" in out, out
    assert f"  blank: {reason}" in out, out
    assert "blank.txt" in reason


def test_retry_after_a_failed_export_resumes_at_export_without_a_second_edit(
    daemon: Daemon, sample_video: Path
) -> None:
    control = daemon.emulator.control
    control.add_faults([{"endpoint": "render_submit", "render_fail": True, "times": 2}])
    daemon.start()
    daemon.drop_pair(sample_video, "export")
    first_line_of_error(daemon, "export")
    assert "Stage: rendering" in daemon.error_of("export").splitlines()
    assert len(daemon.calls("run_sse")) == 1

    done = daemon.cli("retry", "export")
    assert done.returncode == 0, done.stderr
    assert "resumes at export" in done.stdout, done.stdout
    assert not (daemon.failed / "export").exists()
    delivered(daemon, "export")
    assert daemon.stop() == 0

    assert len(daemon.calls("run_sse")) == 1, "the paid edit was not sent again"
    assert len(daemon.calls("session")) == 1 and len(daemon.calls("upload")) == 1
    submits = daemon.calls("render_submit")
    assert len(submits) == 3, "two failed renders, then the retried export"
    assert submits[-1]["body"]["sessionId"] == submits[0]["body"]["sessionId"]
    assert daemon.failures() == []


def test_retry_of_a_job_fixed_in_the_failed_folder_starts_over(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.start()
    daemon.drop_pair(sample_video, "fixme", text="   \n")
    assert "fixme.txt" in first_line_of_error(daemon, "fixme")
    assert daemon.calls("upload") == []

    (daemon.failed / "fixme" / "fixme.txt").write_text("Add a title saying Hello")
    done = daemon.cli("retry", "fixme")
    assert done.returncode == 0, done.stderr
    assert "starts over" in done.stdout, done.stdout
    delivered(daemon, "fixme")
    assert daemon.stop() == 0

    (turn,) = daemon.calls("run_sse")
    assert turn["body"]["new_message"]["parts"][0]["text"] == "Add a title saying Hello"
    assert daemon.failures() == []


def test_status_shows_the_credits_read_at_start(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(jobs={"credit_check_minutes": 60}).start()  # no check for an hour
    wait_for(lambda: daemon.status().get("credits") is not None, 10, "the balance read")
    assert "credits: 100" in status(daemon)
    assert daemon.stop() == 0
