"""What a person does on the page: watch a job go through its stages live, play the
result, drop new work, retry a failure (a paying retry states its cost first) and
cancel a running job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from browserkit import logged_in, shot

from devkit.daemon import Daemon
from devkit.waits import wait_for


def test_a_job_moves_through_its_stages_live_and_its_result_plays(
    web_daemon: Callable[..., Daemon], page: Any, sample_video: Path
) -> None:
    daemon = web_daemon()
    daemon.emulator.control.set(turn_seconds=2, render_seconds=1.5)
    logged_in(page, daemon)
    page.evaluate("window.notReloaded = true")

    daemon.drop_pair(sample_video, "holiday")
    row = page.locator("li.job", has_text="holiday")
    row.locator(".stage", has_text="the editor is working").wait_for()
    row.locator(".elapsed").wait_for()
    shot(page, "queue-running")
    row.locator(".stage", has_text="waiting for the render").wait_for()
    page.locator("#no-jobs").wait_for()  # delivered: the queue is empty again
    assert page.evaluate("window.notReloaded") is True
    assert int(page.evaluate("document.body.dataset.events")) >= 4
    wait_for((daemon.outbox / "holiday.mp4").exists, 30, "the result")

    page.click("nav >> text=History")
    page.click("table >> text=holiday")
    page.locator("video#result").wait_for()
    assert "Instructions and answers" in page.inner_text("main")
    assert "Trim the silences" in page.inner_text("ol.turns")
    assert "ct=" not in page.content()  # the editor's claim token stays out of the page
    page.evaluate("document.getElementById('result').muted = true")
    page.evaluate("document.getElementById('result').play()")
    page.wait_for_function("document.getElementById('result').readyState >= 2")
    page.wait_for_function("document.getElementById('result').currentTime > 0.2")
    shot(page, "result")


def test_a_dropped_video_with_typed_instructions_is_delivered(
    web_daemon: Callable[..., Daemon], page: Any, sample_video: Path
) -> None:
    daemon = web_daemon()
    logged_in(page, daemon)
    page.set_input_files("#files", str(sample_video))
    page.fill("#instructions", "Add a title saying Hello")
    page.click("#send")
    page.locator("#messages", has_text="1 job in the inbox: clip.mp4").wait_for()
    wait_for((daemon.outbox / "clip.mp4").exists, 60, "the dropped video delivered")
    sent = daemon.calls("run_sse")
    assert any("Add a title saying Hello" in str(call) for call in sent)
    assert not list(daemon.inbox.glob(".nw-drop-*"))  # no temporary folder left


def test_an_upload_over_the_limit_is_refused_before_it_starts(
    web_daemon: Callable[..., Daemon], page: Any, tmp_path: Path
) -> None:
    daemon = web_daemon(jobs={"max_file_mb": 0.01})
    logged_in(page, daemon)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * 20_000)
    page.set_input_files("#files", str(big))
    page.fill("#instructions", "Trim it")
    page.click("#send")
    page.locator("#messages", has_text="over the limit").wait_for()
    assert list(daemon.inbox.iterdir()) == [] or all(
        p.name.startswith(".") for p in daemon.inbox.iterdir()
    )


def test_a_failed_job_is_retried_and_a_paying_retry_states_its_cost_first(
    web_daemon: Callable[..., Daemon], page: Any, sample_video: Path
) -> None:
    daemon = web_daemon()
    daemon.emulator.control.add_faults([{"endpoint": "upload", "code": 4001, "times": 1}])
    logged_in(page, daemon)
    daemon.drop_pair(sample_video, "broken")
    failure = page.locator("li.failure", has_text="broken")
    failure.wait_for()
    shot(page, "queue-failed")

    from playwright.sync_api import expect  # the fixtures skip first when it is missing

    asked: list[str] = []

    def decline(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", decline)
    start_over = failure.locator("button", has_text="Start over (pays)")
    start_over.click()  # disabled until the question is answered
    expect(start_over).to_be_enabled()
    assert len(asked) == 1 and "credit" in asked[0] and "Go ahead?" in asked[0], asked
    assert (daemon.failed / "broken").is_dir()  # declined: nothing changed

    failure.locator("button.retry").click()
    page.locator("#messages", has_text="broken").wait_for()
    wait_for((daemon.outbox / "broken.mp4").exists, 60, "the retried job delivered")
    failure.wait_for(state="detached")


def test_a_running_job_is_cancelled(
    web_daemon: Callable[..., Daemon], page: Any, sample_video: Path
) -> None:
    daemon = web_daemon()
    daemon.emulator.control.set(turn_seconds=4)
    logged_in(page, daemon)
    daemon.drop_pair(sample_video, "holiday")
    row = page.locator("li.job", has_text="holiday")
    row.locator(".stage", has_text="the editor is working").wait_for()
    row.locator("button", has_text="Cancel").click()
    page.locator("#messages", has_text="stops at its next checkpoint").wait_for()
    error = daemon.failed / "holiday" / "error.txt"
    wait_for(error.exists, 30, "the job set aside as cancelled")
    page.locator("li.failure", has_text="holiday").wait_for()
    assert daemon.outputs() == []
