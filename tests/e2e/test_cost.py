"""Cost control with a real daemon and the emulator: duplicates, the budget, what a job cost."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from devkit.daemon import Daemon
from devkit.waits import wait_for


def delivered_in_history(daemon: Daemon, name: str) -> bool:
    """The history (written by the daemon from the job events) lists `name` as delivered."""
    return any(j["name"] == name and j["outcome"] == "delivered" for j in daemon.history())


def test_the_same_video_and_instructions_dropped_twice_are_paid_once(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(jobs={"duplicate_days": 30})  # the default (the harness turns it off)
    daemon.start()
    daemon.drop_pair(sample_video, "holiday")
    wait_for(daemon.outputs, 60, "the first result")
    wait_for(lambda: delivered_in_history(daemon, "holiday"), 20, "the history row")
    daemon.drop_pair(sample_video, "holiday copy")  # a sync tool's second copy
    (failed,) = wait_for(daemon.failures, 60, "the copy in the failed folder")
    assert failed.name == "holiday copy"
    error = daemon.error_of("holiday copy")
    assert "already delivered as holiday.mp4 on " in error.splitlines()[0]
    assert "nemowatch retry 'holiday copy' --start-over" in error
    assert {"holiday copy.mp4", "holiday copy.txt"} <= {p.name for p in failed.iterdir()}
    assert len(daemon.calls("run_sse")) == 1, "the copy was not sent"
    assert [p.name for p in daemon.outputs()] == ["holiday.mp4"]
    assert daemon.stop() == 0


def write_config(daemon: Daemon, **sections: dict[str, Any]) -> None:
    for section, values in sections.items():
        daemon.settings.setdefault(section, {}).update(values)
    daemon.config.write_text(tomli_w.dumps(daemon.settings))


def test_a_budget_of_one_turn_holds_the_second_job_until_a_reload_raises_it(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(jobs={"daily_credit_budget": 50, "turn_cost_estimate": 50})
    daemon.start()
    daemon.drop_pair(sample_video, "first", text="Trim the silences")
    wait_for(daemon.outputs, 60, "the first result")
    report = daemon.outbox / "first.report.txt"
    text = wait_for(lambda: report.exists() and report.read_text(), 10, "the first report")
    assert "Cost: 50 credits" in text, text

    daemon.drop_pair(sample_video, "second", text="Add a title")

    def held_by_budget() -> dict[str, Any] | None:
        status = daemon.status()
        names = [c["name"] for c in status.get("conditions", [])]
        held = [j for j in status.get("jobs", []) if j.get("held") and j["name"] == "second"]
        return status if "budget" in names and held else None

    status = wait_for(held_by_budget, 60, "the second job held by the budget")
    (budget,) = [c for c in status["conditions"] if c["name"] == "budget"]
    assert "50 of 50 credits spent today" in budget["reason"]
    assert budget["next_check"], "status says when paid work starts again"
    shown = daemon.cli("status").stdout
    assert "daily credit budget reached" in shown and "midnight" in shown, shown
    assert "(50 credits)" in shown, "the finished job's cost"
    assert not daemon.failures(), "held, not failed"
    assert len(daemon.calls("run_sse")) == 1

    write_config(daemon, jobs={"daily_credit_budget": 100})
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(daemon.outputs()) == 2, 60, "the second result after the reload")
    assert len(daemon.calls("run_sse")) == 2
    assert daemon.stop() == 0
    history = json.loads(daemon.cli("history", "--json").stdout)["jobs"]
    assert {j["name"]: j["credits"] for j in history} == {"first": 50, "second": 50}


def test_two_identical_drops_at_once_are_paid_once(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(jobs={"duplicate_days": 30, "max_parallel": 2})
    daemon.emulator.control.set(turn_seconds=2.0)  # the first is in its turn when the second comes
    daemon.start()
    daemon.drop_pair(sample_video, "copy one", text="Trim the silences")
    daemon.drop_pair(sample_video, "copy two", text="Trim the silences")
    (failed,) = wait_for(daemon.failures, 90, "one copy in the failed folder")
    wait_for(lambda: len(daemon.outputs()) == 1, 60, "the other delivered")
    error = daemon.error_of(failed.name)
    assert "was already delivered as" in error and "not sent again" in error, error
    assert len(daemon.calls("run_sse")) == 1, "paid once"
    assert daemon.outputs()[0].stem != failed.name
    assert "are being edited as copy" in (failed / "job.log").read_text(), "it waited"
    assert daemon.stop() == 0


def test_submit_keeps_the_duplicate_guard_and_work_hours(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(jobs={"duplicate_days": 30})  # submit needs no daemon running
    first = daemon.cli("submit", str(sample_video), "-i", "Add a title", timeout=60)
    assert first.returncode == 0, first.stderr
    again = daemon.cli("submit", str(sample_video), "-i", "Add a title", timeout=60)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "already delivered as" in again.stdout + again.stderr
    assert len(daemon.calls("run_sse")) == 1

    opens = time.localtime(time.time() + 7200)  # a window two hours from now
    window = f"{opens.tm_hour:02d}:00-{opens.tm_hour:02d}:30"
    write_config(daemon, jobs={"work_hours": window, "duplicate_days": 0})
    held = daemon.cli("submit", str(sample_video), "-i", "Add music", timeout=60)
    assert held.returncode != 0
    assert f"outside work hours ({window})" in held.stdout + held.stderr
    assert len(daemon.calls("run_sse")) == 1, "nothing paid outside work hours"
