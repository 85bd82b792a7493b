"""Notifications from a running daemon: the command hears of each delivered and failed job.

The command is a small Python script that appends what it received (the
event's JSON on stdin and the four `NEMOWATCH_*` variables) to a file.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devkit.daemon import Daemon

RECORDER = """
import json, os, sys
entry = {
    "stdin": json.loads(sys.stdin.read()),
    "env": {k: v for k, v in os.environ.items() if k.startswith("NEMOWATCH_")},
}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(entry) + "\\n")
"""


def received(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_the_command_hears_of_a_delivered_and_a_failed_job(
    make_daemon: Callable[..., Daemon], sample_video: Path, tmp_path: Path
) -> None:
    script, out = tmp_path / "record.py", tmp_path / "received.jsonl"
    script.write_text(RECORDER)
    command = " ".join(shlex.quote(str(p)) for p in (sys.executable, script, out))
    daemon = make_daemon(notify={"command": command, "events": ["delivered", "failed"]}).start()

    daemon.drop_pair(sample_video, "holiday")
    daemon.note("zero.txt", "Trim the silences")
    daemon.note("zero.mp4", b"")  # empty: fails before anything is uploaded
    calls = daemon.wait_for(lambda: len(received(out)) >= 2 and received(out), 60, "two events")
    assert daemon.stop() == 0
    assert len(received(out)) == 2, "one call per event, nothing else chosen"

    by_event = {c["stdin"]["event"]: c for c in calls}
    done, failed = by_event["delivered"], by_event["failed"]
    assert done["stdin"]["name"] == "holiday"
    assert done["stdin"]["result"] == str(daemon.outbox / "holiday.mp4")
    assert done["env"]["NEMOWATCH_EVENT"] == "delivered"
    assert done["env"]["NEMOWATCH_RESULT"] == str(daemon.outbox / "holiday.mp4")
    assert done["env"]["NEMOWATCH_JOB"] == done["stdin"]["job"] and done["stdin"]["job"]
    assert done["env"]["NEMOWATCH_REASON"] == ""

    assert failed["stdin"]["name"] == "zero" and failed["stdin"]["result"] is None
    assert failed["env"]["NEMOWATCH_EVENT"] == "failed"
    assert failed["env"]["NEMOWATCH_JOB"] == failed["stdin"]["job"] and failed["stdin"]["job"]
    reason = failed["env"]["NEMOWATCH_REASON"]
    assert "zero.mp4" in reason and "empty" in reason and reason == failed["stdin"]["reason"]
    first_line = daemon.error_of("zero").splitlines()[0]
    assert first_line in reason, "the same plain reason as error.txt"
    for call in calls:
        assert set(call["stdin"]) >= {"schema", "event", "job", "name", "result", "reason"}
        assert {"link", "at"} <= set(call["stdin"]) and call["stdin"]["schema"] == 1


def test_a_command_that_hangs_neither_holds_the_job_nor_the_stop(
    make_daemon: Callable[..., Daemon], sample_video: Path, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    command = f"touch {shlex.quote(str(started))}; exec sleep 600"
    daemon = make_daemon(notify={"command": command, "events": ["delivered"]}).start()

    daemon.drop_pair(sample_video, "first")
    daemon.wait_for((daemon.outbox / "first.mp4").exists, 60, "the first result")
    daemon.wait_for(started.exists, 10, "the hook to start (and hang)")
    daemon.drop_pair(sample_video, "second")  # the hung hook does not hold the next job
    daemon.wait_for((daemon.outbox / "second.mp4").exists, 60, "the second result")

    grace = 5  # jobs.stop_grace_seconds in the harness's settings
    began = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - began < grace + 5, "the stop waited for the hook"
    assert "given up at stop" in daemon.log_text()
