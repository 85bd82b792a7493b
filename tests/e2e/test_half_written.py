"""Half-written and changing files with the real daemon: never a job, never paid for.

- a copy that pauses with the file still open is not claimed, however long the
  pause, until the copier closes it (the kernel says a writer has it open);
- a file that changes after its claim is put back before any turn is paid,
  and delivered once it has settled;
- an upload cut off by a crash is redone in a new session, never into the one
  that may hold the footage already.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devkit.daemon import Daemon
from devkit.waits import wait_for

#: the size of the video the copier writes, in two halves
VIDEO_SIZE = 2_400_000
WRITING = "still being written (open for writing by another program)"


def delivered(daemon: Daemon, timeout: float = 40) -> Path:
    (result,) = wait_for(daemon.outputs, timeout, "the result")
    return result


def session_of(record: dict[str, Any]) -> str:
    """The session an upload went to: the last part of its path."""
    return str(record["path"].rsplit("/", 1)[-1])


def sizes(upload: dict[str, Any]) -> list[int]:
    return [f["size"] for f in upload["body"]["files"]]


def landed(uploads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The uploads the emulator stored (answered, not cut off)."""
    return [
        u for u in uploads if u["status"] == 200 and not u["aborted"] and u["code"] in (None, 0)
    ]


def waiting_reason(daemon: Daemon, name: str) -> str | None:
    try:
        waiting = daemon.status()["waiting"]
    except (OSError, ValueError):
        return None  # being rewritten this instant
    return next((w["reason"] for w in waiting if w["path"].endswith(name)), None)


@pytest.mark.parametrize("settle", [0.3, 0.1], ids=["settle 0.3 s", "settle 0.1 s"])
def test_a_copy_that_pauses_with_the_file_open_is_claimed_only_after_the_close(
    make_daemon: Callable[..., Daemon], sample_video: Path, settle: float
) -> None:
    daemon = make_daemon(watch={"settle_seconds": settle})
    daemon.start()
    head = sample_video.read_bytes()
    video = head + os.urandom(VIDEO_SIZE - len(head))
    half = len(video) // 2
    daemon.note("paused.txt", "Add a title")
    target = daemon.inbox / "paused.mp4"
    pause = max(3 * settle, 2.0)  # long enough for the status file to show why it waits
    with target.open("wb") as f:
        f.write(video[:half])
        f.flush()
        paused_at = time.monotonic()
        reason = wait_for(lambda: waiting_reason(daemon, "paused.mp4"), pause, "a reason")
        while time.monotonic() - paused_at < pause:  # the rest of the pause: nothing happens
            assert target.exists() and not daemon.calls("upload"), "claimed while open"
            time.sleep(0.05)
        assert reason == WRITING
        f.write(video[half:])
    closed_at = time.time()
    delivered(daemon)
    (upload,) = daemon.calls("upload")
    assert upload["first_byte_at"] >= closed_at
    assert sizes(upload) == [len(video)]
    assert len(daemon.calls("run_sse")) == 1
    assert daemon.stop() == 0


def test_a_file_changed_during_its_upload_is_put_back_and_paid_once(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.add_faults([{"endpoint": "upload", "delay_seconds": 2}])
    daemon.start()
    daemon.drop_pair(sample_video, "grows")
    wait_for(lambda: daemon.calls("upload"), 20, "the upload to start")
    (claimed,) = daemon.work.glob("*/files/grows.mp4")
    with claimed.open("ab") as f:  # a program still writing through its open file
        f.write(os.urandom(300_000))
    grown = claimed.stat().st_size
    delivered(daemon)
    first, second = daemon.calls("upload")
    assert sizes(first) == [sample_video.stat().st_size]
    assert sizes(second) == [grown]
    (turn,) = daemon.calls("run_sse")
    assert turn["body"]["session_id"] == session_of(second) != session_of(first)
    assert "grows.mp4 changed after upload; waiting for it to settle again" in daemon.log_text()
    assert daemon.stop() == 0


def test_an_upload_cut_off_by_a_crash_is_redone_in_a_new_session(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.add_faults([{"endpoint": "upload", "delay_seconds": 3}])
    daemon.start()
    daemon.drop_pair(sample_video, "cut")
    (first,) = wait_for(lambda: daemon.calls("upload"), 20, "the upload to start")
    daemon.kill()  # the upload's outcome is unknown to the journal
    daemon.start()
    delivered(daemon)
    assert daemon.stop() == 0
    old = session_of(first)
    assert len(daemon.calls("session")) == 2
    (stored,) = landed(daemon.calls("upload"))
    assert session_of(stored) != old, "nothing landed in the session that may hold it"
    (turn,) = daemon.calls("run_sse")
    assert turn["body"]["session_id"] == session_of(stored)
    assert f"the upload into session {old} has no recorded answer" in daemon.log_text()
