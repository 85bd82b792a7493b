"""`pause`, `resume`, `cancel` and `retry` as a person runs them, against a running daemon.

The commands are real processes talking to the daemon's local API on its Unix
socket; the daemon is a real process against the emulator.
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for


def condition_names(daemon: Daemon) -> set[str]:
    return {c["name"] for c in daemon.status().get("conditions", [])}


def test_pause_holds_new_work_across_a_restart_and_resume_delivers_it(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.start()
    socket = daemon.state / "nemowatch.sock"
    assert stat.S_IMODE(socket.stat().st_mode) == 0o600

    paused = daemon.cli("pause")
    assert paused.returncode == 0, paused.stderr
    assert "paused" in paused.stdout
    assert "already paused" in daemon.cli("pause").stdout

    daemon.drop_pair(sample_video, "holiday")
    wait_for(lambda: daemon.status().get("waiting"), 10, "the pair listed as waiting")
    assert "paused" in condition_names(daemon)
    assert daemon.calls("upload") == [] and daemon.calls("session") == []
    assert (daemon.inbox / "holiday.mp4").exists(), "a paused daemon claims nothing"

    assert daemon.stop() == 0
    daemon.start()  # the pause outlives the restart
    wait_for(lambda: "paused" in condition_names(daemon), 10, "the pause restored")
    assert (daemon.inbox / "holiday.mp4").exists() and daemon.calls("upload") == []

    resumed = daemon.cli("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("resumed"), resumed.stdout
    wait_for((daemon.outbox / "holiday.mp4").exists, 60, "the result after resume")
    assert "not paused" in daemon.cli("resume").stdout
    assert daemon.stop() == 0
    assert not (daemon.state / "paused").exists()


def test_cancel_stops_a_running_job_and_sends_nothing_more(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(turn_seconds=3)
    daemon.start()
    daemon.drop_pair(sample_video, "holiday")
    wait_for(lambda: daemon.calls("run_sse"), 30, "the turn to be sent")

    done = daemon.cli("cancel", "holiday")
    assert done.returncode == 0, done.stderr
    assert "stops at its next checkpoint" in done.stdout, done.stdout
    error = daemon.failed / "holiday" / "error.txt"
    wait_for(error.exists, 30, "the job set aside as cancelled")
    assert "Cancelled with `nemowatch cancel`" in error.read_text()
    assert (daemon.failed / "holiday" / "holiday.mp4").exists()
    assert daemon.stop() == 0
    assert daemon.calls("render") == [] and len(daemon.calls("run_sse")) == 1
    assert daemon.outputs() == []


def test_cancel_sets_a_waiting_file_aside_and_names_what_it_does_not_know(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(watch={"pair_wait_seconds": 600}).start()
    daemon.drop(sample_video, "lonely.mp4")  # waits for its instructions
    wait_for(lambda: daemon.status().get("waiting"), 10, "the video listed as waiting")

    unknown = daemon.cli("cancel", "nobody")
    assert unknown.returncode == 2 and "no job or waiting file" in unknown.stderr

    done = daemon.cli("cancel", "lonely")
    assert done.returncode == 0, done.stderr
    assert not (daemon.inbox / "lonely.mp4").exists()
    assert (daemon.failed / "lonely" / "lonely.mp4").exists()
    assert "nothing was sent" in (daemon.failed / "lonely" / "error.txt").read_text()
    assert daemon.stop() == 0
    assert daemon.calls("upload") == []


def test_without_a_daemon_the_orders_say_so_and_exit_1(daemon: Daemon) -> None:
    for order in (["pause"], ["resume"], ["cancel", "holiday"]):
        done = daemon.cli(*order)
        assert done.returncode == 1, (order, done.stderr)
        assert "nemowatch is not running" in done.stderr, done.stderr


def test_retry_takes_effect_at_once_not_at_the_next_rescan(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(watch={"rescan_seconds": 600}).start()
    failed = daemon.failed / "trip"
    failed.mkdir(parents=True)
    shutil.copy(sample_video, failed / "trip.mp4")
    (failed / "trip.txt").write_text("Add a title saying Trip")
    (failed / "error.txt").write_text("NemoVideo could not be reached.\n")

    done = daemon.cli("retry", "trip")
    assert done.returncode == 0, done.stderr
    assert "now" in done.stdout and "rescan" not in done.stdout, done.stdout
    wait_for((daemon.outbox / "trip.mp4").exists, 40, "the retried job delivered")
    assert daemon.stop() == 0
    assert not failed.exists()


def test_a_top_up_then_resume_releases_a_credits_hold_at_once(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(jobs={"credit_check_minutes": 60, "stop_grace_seconds": 5})
    daemon.emulator.control.set(credits=0)  # the account cannot pay for an edit
    daemon.start()
    daemon.drop_pair(sample_video, "holiday")
    wait_for(lambda: "credits" in condition_names(daemon), 30, "the credits hold")

    daemon.emulator.control.action("set_credits", 1000)  # topped up; next check in an hour
    resumed = daemon.cli("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "nothing holds" in resumed.stdout, resumed.stdout
    wait_for((daemon.outbox / "holiday.mp4").exists, 60, "the result after the top-up")
    assert daemon.stop() == 0
    assert daemon.failures() == []
