"""The history database: rows from job events, queries, migrations, damage and full disks.

Every test uses a real SQLite file under tmp_path (or on a small tmpfs, for
a full disk); none needs a daemon (see tests/e2e/test_history_cli.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nemowatch import cli, history_view
from nemowatch.config import Settings
from nemowatch.history import HISTORY_FILE, PENDING_MAX, History, trouble
from nemowatch.history_schema import SCHEMA_VERSION, filesystem_type, journal_mode_for
from nemowatch.jobs import events
from nemowatch.jobs.model import Failure, Job, JobStage, Turn, TurnState

NOW = 1_800_000_000.0
DAY = 24 * 3600


class FutureJob(Job):
    """A journal with the fields a later issue adds: the history reads them when present."""

    credits_before: float | None = None
    credits_after: float | None = None
    refines: str | None = None


def a_job(name: str = "holiday", **fields: Any) -> Job:
    job = FutureJob(
        id=f"20270115-080000-{name}-abc123",
        name=name,
        kind="pair",
        media=[f"{name}.mp4"],
        media_stat={f"{name}.mp4": (1234, 0)},
        turns=[Turn(text="Trim the silences", state=TurnState.ANSWERED, answer="Done: trimmed")],
        session_id="ses_1",
        render_id="rnd_1",
        created_at=NOW - 120,
        reached={"claimed": NOW - 120, "session": NOW - 100, "done": NOW},
    )
    for key, value in fields.items():
        setattr(job, key, value)
    return job


def delivered(job: Job, at: float = NOW) -> events.Delivered:
    return events.Delivered.of(job, result=f"/out/{job.name}.mp4", report=None, at=at)


def failed(job: Job, reason: str = "the video is empty", at: float = NOW) -> events.Failed:
    job.failure = Failure(message=reason, stage="claimed", code=4001)
    return events.Failed.of(job, stage="claimed", message=reason, code=4001, at=at)


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History(tmp_path / HISTORY_FILE, clock=lambda: NOW) as opened:
        yield opened


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return list(conn.execute(sql))


# -- rows from events -----------------------------------------------------------


def test_a_delivered_job_is_one_row_with_its_media_turns_and_stages(history: History) -> None:
    history.record(delivered(a_job(credits_before=100.0, credits_after=88.5, refines="j0")))
    (entry,) = history.jobs()
    assert (entry.name, entry.outcome, entry.result) == ("holiday", "delivered", "/out/holiday.mp4")
    assert entry.media == [{"name": "holiday.mp4", "size": 1234, "sha256": None}]
    assert entry.instructions == ["Trim the silences"]
    assert entry.turns == [
        {"text": "Trim the silences", "answer": "Done: trimmed", "verified": False}
    ]
    assert entry.stages["session"] == NOW - 100 and (entry.session_id, entry.render_id) == (
        "ses_1",
        "rnd_1",
    )
    assert (entry.credits, entry.refines, entry.duration) == (11.5, "j0", 120)


def test_events_are_kept_but_progress_is_not(history: History) -> None:
    job = a_job()
    history.record(events.Claimed(job.id, job.name, at=NOW - 120))
    history.record(events.StageReached.of(job, stage=JobStage.SESSION, at=NOW - 100))
    history.record(events.Progress.of(job, what="upload", done=5, total=10))
    history.record(events.TurnAnswered.of(job, index=0, count=1, answer="Done", at=NOW - 50))
    history.record(events.Held.of(job, condition="credits", reason="out of credits", at=NOW - 40))
    history.record(delivered(job))
    found = rows(history.path, "SELECT type, text FROM events ORDER BY at")
    assert [t for t, _ in found] == ["Claimed", "StageReached", "TurnAnswered", "Held", "Delivered"]
    assert found[2][1] == "turn 1 of 1 answered: Done"
    assert "out of credits" in found[3][1]


def test_files_put_back_into_the_inbox_are_not_a_cancellation(history: History) -> None:
    job = a_job(put_back=True)
    history.record(events.Cancelled.of(job, stage="claimed"))
    assert history.jobs() == []
    assert rows(history.path, "SELECT type FROM events") == [("Cancelled",)]


def test_failed_and_cancelled_jobs_keep_their_reason_code_and_stage(history: History) -> None:
    history.record(failed(a_job("broken"), "the video is empty: nmv_usr_secret123", at=NOW - 10))
    history.record(events.Cancelled.of(a_job("stopped"), stage="rendering", at=NOW - 5))
    cancelled, broken = history.jobs()
    assert (broken.outcome, broken.code, broken.stage) == ("failed", 4001, "claimed")
    assert broken.reason == "the video is empty: nmv_***", "a token never reaches the history"
    assert (cancelled.outcome, cancelled.reason) == ("cancelled", "cancelled at rendering")


def test_a_job_retried_after_failing_keeps_one_row(history: History) -> None:
    job = a_job()
    history.record(failed(job, at=NOW - 60))
    history.record(delivered(job, at=NOW))
    assert [(e.outcome, e.reason) for e in history.jobs()] == [("delivered", None)]


# -- queries ---------------------------------------------------------------------


def test_queries_filter_by_outcome_age_and_words_newest_first(history: History) -> None:
    history.record(delivered(a_job("old"), at=NOW - 10 * DAY))
    history.record(failed(a_job("bad"), "no audio track", at=NOW - 2 * DAY))
    history.record(delivered(a_job("new"), at=NOW - 60))
    assert [e.name for e in history.jobs()] == ["new", "bad", "old"]
    assert [e.name for e in history.jobs(failed_only=True)] == ["bad"]
    assert [e.name for e in history.jobs(since_days=3)] == ["new", "bad"]
    assert [e.name for e in history.jobs(limit=1, offset=1)] == ["bad"]
    assert [e.name for e in history.jobs(search="audio")] == ["bad"]
    assert [e.name for e in history.jobs(search="100%")] == []
    assert history.job("bad") is not None and history.job("nothing") is None
    latest = a_job("new")
    latest.id = "20270116-000000-new-ffffff"
    history.record(delivered(latest, at=NOW))
    assert (history.job("new") or latest).id == latest.id
    assert (history.job(a_job("new").id) or latest).id == a_job("new").id


def test_the_day_summary_counts_outcomes_and_known_credits(history: History) -> None:
    history.record(delivered(a_job("a", credits_before=50.0, credits_after=40.0), at=NOW - 100))
    history.record(delivered(a_job("b", credits_before=40.0, credits_after=38.0), at=NOW - 50))
    history.record(failed(a_job("c"), at=NOW - 10))
    history.record(delivered(a_job("yesterday"), at=NOW - DAY - 1))
    summary = history.day_summary(NOW - DAY, NOW)
    assert summary == {"delivered": 2, "failed": 1, "cancelled": 0, "credits": 12.0}
    assert history.day_summary(NOW - 2 * DAY, NOW - DAY)["credits"] is None


def test_retention_deletes_what_is_older_than_keep_days(history: History) -> None:
    history.record(delivered(a_job("ancient"), at=NOW - 400 * DAY))
    history.record(delivered(a_job("recent"), at=NOW - DAY))
    assert history.prune(0) == 0, "0 keeps everything"
    assert history.prune(365) == 1
    assert [e.name for e in history.jobs()] == ["recent"]
    assert rows(history.path, "SELECT text FROM events") == [("/out/recent.mp4",)]


def test_the_json_shape_has_schema_1_and_the_documented_keys(history: History) -> None:
    history.record(failed(a_job("bad")))
    data = history.jobs()[0].to_json()
    for key in ("id", "name", "outcome", "result", "reason", "code", "started", "ended", "credits"):
        assert key in data, key
    assert data["outcome"] == "failed" and data["credits"] is None
    started = data["started"]
    assert started[10] == "T" and started[-6] in "+-", "ISO 8601 with the UTC offset"


async def test_the_bus_subscriber_writes_off_the_loop(history: History) -> None:
    bus = events.EventBus()
    bus.subscribe("history", history.handle)
    bus.start()
    bus.emit(delivered(a_job()))
    await bus.stop()
    await history.settled()
    assert history.pending == 0
    assert [e.name for e in history.jobs()] == ["holiday"]


async def test_settled_holds_the_rows_of_events_emitted_a_moment_ago(history: History) -> None:
    """What reads the history right after a delivery (the web page, the budget) finds
    it, though the event still sits in the history's queue when the read is asked for."""
    bus = events.EventBus()
    history.follow(bus)
    bus.start()
    bus.emit(delivered(a_job()))
    await history.settled()
    assert [e.name for e in history.jobs()] == ["holiday"]
    await bus.stop()


@pytest.fixture
def writes(history: History, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows pending at each write of `history` (one entry per transaction)."""
    found: list[int] = []
    flush = history.flush

    def counted() -> bool:
        found.append(history.pending)
        return flush()

    monkeypatch.setattr(history, "flush", counted)
    return found


async def test_events_that_come_while_a_write_runs_go_in_one_write(
    history: History, writes: list[int]
) -> None:
    jobs = [a_job(f"job{i}") for i in range(40)]
    for job in jobs:  # as the bus gives them: one after the other, without waiting
        await history.handle(events.Claimed(job.id, job.name, at=NOW - 60))
        await history.handle(events.StageReached.of(job, stage=JobStage.SESSION, at=NOW - 50))
        await history.handle(delivered(job))
    await history.settled()
    assert sorted(e.name for e in history.jobs()) == sorted(j.name for j in jobs)
    assert rows(history.path, "SELECT count(*) FROM events") == [(120,)]
    assert sum(writes) == 40 + 120, "every row written once"
    assert len(writes) < 10, f"one write per event: {writes}"


async def test_events_of_the_next_moments_wait_for_one_write_unless_a_reader_hurries_it(
    history: History, writes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows of events a few milliseconds apart (jobs running side by side) go in one
    write; `settled()`, which the budget and the duplicate guard await before they read,
    writes them at once rather than after the delay."""
    monkeypatch.setattr("nemowatch.history.WRITE_DELAY", 60.0)
    jobs = [a_job(f"job{i}") for i in range(5)]
    for job in jobs:
        await history.handle(delivered(job))
        await asyncio.sleep(0.01)  # the writer had its turn: it waits for more rows
    assert writes == [] and history.pending == 10
    await asyncio.wait_for(history.settled(), timeout=10)  # not the 60 s
    assert writes == [10], "one write for the five jobs"
    assert sorted(e.name for e in history.jobs()) == sorted(j.name for j in jobs)


# -- the database file -----------------------------------------------------------


def test_an_old_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_FILE
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
        conn.commit()
    with History(path) as history:
        history.record(delivered(a_job()))
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(2,)]
    assert rows(path, "SELECT name FROM jobs") == [("holiday",)]
    assert rows(path, "SELECT count(*) FROM unrelated") == [(0,)]


@pytest.mark.parametrize(
    ("fstype", "mode"),
    [
        ("ext4", "WAL"),
        ("xfs", "WAL"),
        ("tmpfs", "WAL"),
        ("fuseblk", "WAL"),
        (None, "WAL"),
        ("nfs", "DELETE"),
        ("nfs4", "DELETE"),
        ("cifs", "DELETE"),
        ("smb3", "DELETE"),
        ("fuse.sshfs", "DELETE"),
        ("9p", "DELETE"),
        ("fuse.someremote", "DELETE"),
    ],
)
def test_the_journal_mode_follows_the_filesystem(fstype: str | None, mode: str) -> None:
    assert journal_mode_for(fstype) == mode


def test_a_local_disk_gets_wal_and_a_network_one_a_rollback_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local" / HISTORY_FILE
    local.parent.mkdir()
    assert journal_mode_for(filesystem_type(local)) == "WAL", filesystem_type(local)
    with History(local) as history:
        history.record(delivered(a_job()))
        assert rows(local, "PRAGMA journal_mode") == [("wal",)]
    monkeypatch.setattr("nemowatch.history.filesystem_type", lambda path: "nfs4")
    remote = tmp_path / "remote" / HISTORY_FILE
    remote.parent.mkdir()
    with History(remote) as history:
        history.record(delivered(a_job()))
        assert rows(remote, "PRAGMA journal_mode") == [("delete",)]


def test_a_damaged_database_is_moved_aside_and_a_new_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / HISTORY_FILE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").write_bytes(b"not sqlite at all " * 500)
    with History(path) as history, caplog.at_level(logging.WARNING, "nemowatch"):
        history.record(delivered(a_job()))
        assert [e.name for e in history.jobs()] == ["holiday"]
    aside = sorted(p.name for p in tmp_path.iterdir() if ".damaged-" in p.name)
    assert len(aside) == 3 and aside[0].endswith(tuple("0123456789")), aside
    assert {name[-4:] for name in aside[1:]} == {"-shm", "-wal"}
    assert "is damaged" in caplog.text


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (sqlite3.DatabaseError("database disk image is malformed"), "damaged"),
        (sqlite3.DatabaseError("file is not a database"), "damaged"),
        (sqlite3.OperationalError("database or disk is full"), "disk"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "disk"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk"),
        (sqlite3.OperationalError("database is locked"), "other"),
    ],
)
def test_errors_are_told_apart(exc: BaseException, kind: str) -> None:
    assert trouble(exc) == kind


def test_rows_wait_in_memory_while_the_folder_cannot_be_written(tmp_path: Path) -> None:
    calls: list[tuple[Path, BaseException]] = []

    def broken_callback(path: Path, exc: BaseException) -> None:
        calls.append((path, exc))
        raise RuntimeError("a bug in the callback")

    state = tmp_path / "state"  # missing: the database cannot be opened
    with History.in_state(state, on_disk_error=broken_callback) as history:
        for n in range(PENDING_MAX + 20):
            history.record(delivered(a_job(f"job{n}")))
        assert calls and calls[0][0] == state / HISTORY_FILE
        assert history.pending == 2 * PENDING_MAX, "bounded: the oldest rows go"
        state.mkdir()
        assert history.flush()
        assert history.pending == 0
        assert len(history.jobs()) == PENDING_MAX


# -- a full disk: a small tmpfs as the state folder ------------------------------


@contextlib.contextmanager
def small_disk(where: Path, size: str = "512k") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_is_reported_and_the_row_written_once_there_is_room(tmp_path: Path) -> None:
    calls: list[BaseException] = []
    with small_disk(tmp_path / "state") as state:
        history = History.in_state(state, on_disk_error=lambda path, exc: calls.append(exc))
        try:
            history.record(delivered(a_job("before")))
            assert rows(history.path, "PRAGMA journal_mode") == [("wal",)], "tmpfs is local"
            filler = fill(state)
            big = a_job("during", turns=[Turn(text="Cut the boring parts. " * 3000)])
            history.record(delivered(big))  # does not raise
            assert calls and trouble(calls[0]) == "disk", calls
            assert history.pending >= 1
            filler.unlink()
            assert history.flush()
            assert history.pending == 0
            assert {e.name for e in history.jobs()} == {"before", "during"}
        finally:
            history.close()


# -- the command -----------------------------------------------------------------


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "nemowatch.toml"
    state = tmp_path / "state"
    config.write_text(f'[folders]\ninbox = "{tmp_path / "inbox"}"\nstate = "{state}"\n')
    return config


def settings_of(tmp_path: Path) -> Settings:
    return Settings.model_validate({"folders": {"state": str(tmp_path / "state")}})


def test_without_a_state_folder_there_is_no_history_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert cli.main(["--config", str(config), "history"]) == 0
    assert capsys.readouterr().out.strip() == "No jobs in the history yet."
    assert cli.main(["--config", str(config), "history", "--failed", "--since", "7"]) == 0
    assert capsys.readouterr().out.strip() == "No failed jobs in the last 7 days."
    assert cli.main(["--config", str(config), "history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"schema": 1, "jobs": []}
    assert not (tmp_path / "state").exists()


def test_the_table_fits_80_columns_with_a_long_name_and_reason(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    with History.in_state(tmp_path / "state") as history:
        history.record(failed(a_job("a" * 70), "the reason " * 20, at=time.time()))
        history.record(delivered(a_job("short"), at=time.time()))
    text, code = history_view.command(settings_of(tmp_path))
    lines = text.splitlines()
    assert code == 0 and len(lines) == 3
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert "…" in lines[2] and "failed: the reason" in lines[2]
    assert lines[1].startswith("short") and "short.mp4" in lines[1]
    assert lines[2].rstrip().endswith("–"), "no credits known"
    failed_only, _ = history_view.command(settings_of(tmp_path), failed=True)
    assert "short" not in failed_only and "aaaa" in failed_only
    data = json.loads(history_view.command(settings_of(tmp_path), as_json=True, limit=1)[0])
    assert data["schema"] == 1 and [j["name"] for j in data["jobs"]] == ["short"]


def test_an_unreadable_history_is_said_plainly(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / HISTORY_FILE).write_bytes(b"garbage" * 1000)
    text, code = history_view.command(settings_of(tmp_path))
    assert code == 1 and "cannot be read" in text
    assert [p.name for p in (tmp_path / "state").iterdir()] == [HISTORY_FILE], "left as it is"


def test_history_into_a_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "state").mkdir()
    with History.in_state(tmp_path / "state") as history:
        for n in range(2000):
            history.record(delivered(a_job(f"job{n}"), at=NOW + n))
    reader, writer = os.pipe()
    os.close(reader)  # like `| head` that has already exited
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nemowatch", "--config", str(config), "history"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_version_1_database_gains_the_refinement_columns(tmp_path: Path) -> None:
    from nemowatch.history_schema import MIGRATIONS

    path = tmp_path / HISTORY_FILE
    with History(path) as old:
        old.record(delivered(a_job()))
    with contextlib.closing(sqlite3.connect(path)) as conn:  # back to what version 1 wrote
        for column in ("task_id", "version", "cost_approximate"):
            conn.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    assert len(MIGRATIONS) == 2
    with History(path) as history:
        history.record(delivered(a_job("refined", result_version=2, cost_approximate=True)))
        (refined,) = [e for e in history.jobs() if e.name == "refined"]
        (kept,) = [e for e in history.jobs() if e.name == "holiday"]
        assert (kept.version, kept.cost_approximate, kept.task_id) == (1, False, None)
        assert (refined.version, refined.cost_approximate) == (2, True)
        found = history.latest_delivered("HOLIDAY", None, NOW - 60)
        assert found is not None and found.id == kept.id
        assert history.latest_delivered("holiday", "shorts", NOW - 60) is None, "other folder"
        assert history.latest_delivered("holiday", None, NOW + 1) is None, "too old"
    assert rows(path, "PRAGMA user_version") == [(2,)]


def test_the_chain_of_a_refinement_goes_back_to_its_original(tmp_path: Path) -> None:
    with History(tmp_path / HISTORY_FILE) as history:
        first = a_job("clip")
        second = a_job("clip", id="20270115-080100-clip-bbbbbb", refines=first.id)
        third = a_job("clip", id="20270115-080200-clip-cccccc", refines=second.id)
        for n, job in enumerate((first, second, third)):
            history.record(delivered(job, at=NOW + n))
        chain = history.chain(third.id)
    assert [e.id for e in chain] == [first.id, second.id, third.id]


def test_an_approximate_cost_is_marked_in_the_table(tmp_path: Path) -> None:
    with History(tmp_path / HISTORY_FILE) as history:
        job = a_job("shared", credits_before=200.0, credits_after=100.0, cost_approximate=True)
        history.record(delivered(job))
        text = history_view.table(history.jobs())
    assert "~100" in text.splitlines()[1], text
