"""Crashes, broken streams and an empty account: nothing paid twice, nothing lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for


def one_result(daemon: Daemon) -> Path:
    (result,) = wait_for(daemon.outputs, 40, "the result")
    return result


def test_a_stream_dropped_mid_turn_is_recovered_without_resending(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.add_faults([{"endpoint": "run_sse", "drop_after_events": 1}])
    daemon.start()
    daemon.drop_pair(sample_video)
    one_result(daemon)
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
    assert "verified in the project" in daemon.log_text()


def test_kill_during_the_upload_then_restart_delivers(daemon: Daemon, sample_video: Path) -> None:
    daemon.emulator.control.add_faults([{"endpoint": "upload", "delay_seconds": 3}])
    daemon.start()
    daemon.drop_pair(sample_video)
    wait_for(lambda: daemon.calls("upload"), 20, "the upload to start")
    daemon.kill()
    daemon.start()
    one_result(daemon)
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
    assert len(daemon.outputs()) == 1


def test_kill_during_the_turn_never_sends_it_again(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    # the recovery window (5 reads, 1 s apart) must outlast the 3 s turn
    daemon = make_daemon(api={"recovery_first_wait_seconds": 1, "recovery_wait_seconds": 1})
    daemon.emulator.control.set(turn_seconds=3)
    daemon.start()
    daemon.drop_pair(sample_video)
    wait_for(lambda: daemon.calls("run_sse"), 20, "the turn to be sent")
    daemon.kill()
    daemon.start()
    one_result(daemon)
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
    assert "was sent before a restart" in daemon.log_text()


def test_kill_during_render_polling_polls_the_same_render(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(render_seconds=3)
    daemon.start()
    daemon.drop_pair(sample_video)
    wait_for(lambda: daemon.calls("render_poll"), 30, "render polling")
    daemon.kill()
    daemon.start()
    one_result(daemon)
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
    submitted = {c["body"]["id"] for c in daemon.calls("render_submit")}
    assert len(submitted) == 1, "no second render after a restart"
    polled = {c["path"].rsplit("/", 1)[-1] for c in daemon.calls("render_poll")}
    assert polled == submitted


def test_out_of_credits_pauses_everything_and_resumes_by_itself(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(credits=0)  # the anonymous account starts empty
    daemon.start()
    daemon.drop_pair(sample_video, "one")
    daemon.drop_pair(sample_video, "two")
    wait_for(lambda: daemon.status().get("paused"), 20, "the pause")
    assert "credits" in daemon.status()["paused"]
    assert not daemon.calls("run_sse"), "nothing paid is sent while paused"
    assert not daemon.failures()
    daemon.emulator.control.action("set_credits", value=1000)
    wait_for(lambda: len(daemon.outputs()) == 2, 40, "both results")
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 2
    assert not daemon.failures()
