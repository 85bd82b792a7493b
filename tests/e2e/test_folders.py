"""Folders that vanish under a running daemon: it waits for them, says so, goes on.

The inbox deleted and made again, the outbox renamed away mid-job, the outbox
left as a dangling link (an unplugged drive) or replaced by a plain file: the
daemon keeps running, holds claims or deliveries with the reason in `status`,
carries on once the folder is back, and stops on SIGTERM within its grace.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from devkit.daemon import Daemon
from devkit.waits import wait_for

FAST = {"folder_check_seconds": 0.2}


def _missing(daemon: Daemon) -> dict[str, Any] | None:
    conditions = daemon.status()["conditions"]
    return next((c for c in conditions if c["name"] == "folder missing"), None)


def test_an_inbox_deleted_and_made_again_is_watched_again(
    make_daemon: Any, sample_video: Path
) -> None:
    # a rescan only once a minute: a drop seen within seconds was seen by the watcher
    daemon: Daemon = make_daemon(watch={**FAST, "rescan_seconds": 60})
    daemon.start()
    shutil.rmtree(daemon.inbox)
    held = wait_for(lambda: _missing(daemon), 20, "the folder-missing condition")
    assert "inbox" in held["reason"] and "claims" in held["reason"]
    assert daemon.running()
    daemon.inbox.mkdir()
    wait_for(lambda: _missing(daemon) is None, 20, "the inbox to count as back")
    wait_for(lambda: "the inbox is back" in daemon.log_text(), 10, "the log line")
    time.sleep(0.5)  # after the rescan that follows its return: only the watcher sees this
    daemon.drop_pair(sample_video, "again")
    wait_for(daemon.outputs, 30, "the result of a drop into the new inbox")
    assert daemon.stop() == 0
    assert not (daemon.root / "inbox" / ".nemowatch" / "zombie").exists()


def test_an_outbox_renamed_away_holds_the_delivery_until_it_is_back(
    make_daemon: Any, sample_video: Path
) -> None:
    daemon: Daemon = make_daemon(watch=FAST)
    daemon.emulator.control.set(render_seconds=2)
    daemon.start()
    daemon.drop_pair(sample_video, "moved")
    wait_for(lambda: daemon.calls("render_submit"), 30, "the render to start")
    away = daemon.root / "outbox.away"
    daemon.outbox.rename(away)
    held = wait_for(lambda: _missing(daemon), 20, "the folder-missing condition")
    assert "outbox" in held["reason"] and "deliveries" in held["reason"]
    wait_for(
        lambda: [j for j in daemon.work_jobs() if j.get("held") == "folder missing"],
        30,
        "the job held at its download",
    )
    assert not daemon.outbox.exists(), "a missing outbox is never made again"
    away.rename(daemon.outbox)
    wait_for(daemon.outputs, 30, "the result once the outbox is back")
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1


@pytest.mark.parametrize("becomes", ["a dangling link", "a plain file"])
def test_an_outbox_that_is_not_a_folder_holds_and_sigterm_still_stops_it(
    make_daemon: Any, sample_video: Path, becomes: str
) -> None:
    daemon: Daemon = make_daemon(watch=FAST, jobs={"stop_grace_seconds": 2})
    daemon.start()
    away = daemon.root / "outbox.away"
    daemon.outbox.rename(away)
    if becomes == "a dangling link":
        os.symlink(daemon.root / "unplugged-drive", daemon.outbox)
    else:
        daemon.outbox.write_text("not a folder")
    daemon.drop_pair(sample_video, "stranded")
    held = wait_for(
        lambda: [j for j in daemon.work_jobs() if j.get("held") == "folder missing"],
        40,
        "the job held before its first turn",
    )
    assert held[0]["stage"] == "uploaded"
    assert daemon.calls("run_sse") == [], "nothing is paid while the result has nowhere to go"
    reason = wait_for(lambda: _missing(daemon), 10, "the condition in the status file")
    assert (
        ("unplugged" in reason["reason"])
        if becomes == "a dangling link"
        else ("is a file" in reason["reason"])
    )
    started = time.monotonic()
    assert daemon.stop(timeout=15) == 0
    assert time.monotonic() - started < 10, "SIGTERM is honoured while held"
    daemon.outbox.unlink()
    away.rename(daemon.outbox)
    daemon.start()
    wait_for(daemon.outputs, 30, "the result after the restart")
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
