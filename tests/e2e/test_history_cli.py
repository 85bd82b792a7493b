"""`nemowatch history` beside a real daemon: what it ran stays, across restarts and damage.

The daemon writes the history as jobs end; the command reads it whether or
not the daemon runs. A damaged database never stops a job: it is moved aside
and a new one started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devkit.daemon import Daemon
from devkit.waits import wait_for


def history(daemon: Daemon, *args: str) -> dict[str, Any]:
    done = daemon.cli("history", "--json", *args)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert data["schema"] == 1
    return data


def names(daemon: Daemon, *args: str) -> list[str]:
    return [job["name"] for job in history(daemon, *args)["jobs"]]


def deliver(daemon: Daemon, clip: Path, name: str) -> None:
    daemon.drop_pair(clip, name)
    wait_for((daemon.outbox / f"{name}.mp4").exists, 60, f"{name}.mp4 in the outbox")
    wait_for(lambda: name in [j["name"] for j in daemon.history()], 20, f"{name} in the history")


def test_the_history_keeps_jobs_across_a_restart(daemon: Daemon, sample_video: Path) -> None:
    daemon.start()
    deliver(daemon, sample_video, "first")
    assert daemon.stop() == 0
    daemon.start()
    deliver(daemon, sample_video, "second")
    assert daemon.stop() == 0

    jobs = history(daemon)["jobs"]
    assert [j["name"] for j in jobs] == ["second", "first"], "newest first"
    for job in jobs:
        assert job["outcome"] == "delivered" and job["reason"] is None, job
        assert job["result"] == str(daemon.outbox / f"{job['name']}.mp4")
        assert job["instructions"] == ["Trim the silences and add a title"]
        assert {"session", "rendering", "delivered"} <= set(job["stages"]), job["stages"]
        assert job["started"] <= job["ended"]
    table = daemon.cli("history")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["second", "first"], table.stdout
    assert all(len(line) <= 80 for line in lines)


def test_failed_and_since_select_what_is_shown(daemon: Daemon, sample_video: Path) -> None:
    daemon.start()
    deliver(daemon, sample_video, "good")
    daemon.note("zero.txt", "Trim the silences")
    daemon.note("zero.mp4", b"")
    wait_for(
        lambda: "zero" in [j["name"] for j in daemon.history()], 30, "the failed job in the history"
    )
    (failed,) = history(daemon, "--failed")["jobs"]
    assert failed["name"] == "zero" and failed["outcome"] == "failed"
    assert "empty" in failed["reason"], failed
    assert names(daemon, "--since", "1") == ["zero", "good"]
    assert names(daemon, "--limit", "1") == ["zero"]
    text = daemon.cli("history", "--failed").stdout
    assert "zero" in text and "good" not in text and "failed: " in text, text
    assert daemon.stop() == 0


def test_a_damaged_database_is_moved_aside_and_the_job_still_delivered(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.state.mkdir(parents=True)
    damaged = daemon.state / "history.sqlite3"
    damaged.write_bytes(b"this is not a database " * 400)
    Path(f"{damaged}-wal").write_bytes(b"nor is this a journal " * 400)
    daemon.start()
    deliver(daemon, sample_video, "survivor")
    aside = sorted(p.name for p in daemon.state.glob("history.sqlite3.damaged-*"))
    assert aside and {f"{aside[0]}-wal"} <= set(aside[1:]) <= {f"{aside[0]}-wal", f"{aside[0]}-shm"}
    assert (daemon.state / aside[0]).read_bytes().startswith(b"this is not a database")
    assert (daemon.state / f"{aside[0]}-wal").read_bytes().startswith(b"nor is this a journal")
    assert daemon.stop() == 0
    assert "is damaged" in daemon.log_text()
    assert names(daemon) == ["survivor"]


def test_submit_records_its_job_too(daemon: Daemon, sample_video: Path) -> None:
    done = daemon.cli("submit", str(sample_video), "-i", "Add a title", timeout=60)
    assert done.returncode == 0, done.stderr
    (job,) = history(daemon)["jobs"]
    assert job["kind"] == "submit" and job["outcome"] == "delivered", job
    assert job["media"][0]["name"] == sample_video.name
