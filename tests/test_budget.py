"""Cost control's parts without a pipeline: the history's answers, a reset, retry's mark.

The pipeline's side (work hours, the budget, duplicates on a fake clock) is in
tests/jobs/test_pipeline_cost.py; a real daemon's in tests/e2e/test_cost.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nemowatch.config import FolderSettings, Settings
from nemowatch.history import HISTORY_FILE, History
from nemowatch.history_cost import MARKER
from nemowatch.jobs import events
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Failure, Job, JobStage, Turn, TurnState
from nemowatch.notify.note import from_job_event
from nemowatch.retry import Mode, retry

NOW = 1_800_000_000.0
DAY = 24 * 3600


def a_job(name: str, digests: dict[str, str], text: str = "Trim", **fields: Any) -> Job:
    return Job(
        id=f"20270115-080000-{name}",
        name=name,
        kind="bundle",
        media=list(digests),
        media_stat={m: (10, 0) for m in digests},
        media_sha256=digests,
        turns=[Turn(text=text, state=TurnState.ANSWERED)],
        created_at=NOW - 60,
        **fields,
    )


def deliver(history: History, job: Job, at: float = NOW) -> None:
    history.record(events.Delivered.of(job, result=f"/out/{job.name}.mp4", report=None, at=at))


@pytest.fixture
def history(tmp_path: Path) -> Any:
    with History(tmp_path / HISTORY_FILE, clock=lambda: NOW) as opened:
        yield opened


def test_a_delivery_is_found_by_its_bytes_and_trimmed_instructions_in_any_order(
    history: History,
) -> None:
    deliver(history, a_job("trip", {"a.mp4": "aaa", "b.mp3": "bbb"}, text="Cut it\n"))
    found = history.delivered_like(["bbb", "aaa"], ["  Cut it "], None, NOW - DAY)
    assert found is not None and found.name == "trip"
    assert history.delivered_like(["aaa", "bbb"], ["Cut it"], "shorts", NOW - DAY) is None
    assert history.delivered_like(["aaa"], ["Cut it"], None, NOW - DAY) is None, "one file less"
    assert history.delivered_like(["aaa", "bbb"], ["Other"], None, NOW - DAY) is None
    assert history.delivered_like(["aaa", "bbb"], ["Cut it"], None, NOW + 1) is None, "too old"


def test_a_failed_job_is_no_earlier_delivery(history: History) -> None:
    job = a_job("trip", {"a.mp4": "aaa"})
    job.failure = Failure(message="no", stage="rendering")
    history.record(events.Failed.of(job, stage="rendering", message="no", at=NOW))
    assert history.delivered_like(["aaa"], ["Trim"], None, NOW - DAY) is None


def test_spending_counts_known_costs_since_a_time_but_for_the_jobs_left_out(
    history: History,
) -> None:
    deliver(history, a_job("a", {"a": "1"}, credits_before=1000.0, credits_after=950.0))
    deliver(history, a_job("b", {"b": "2"}, credits_before=950.0, credits_after=850.0))
    deliver(history, a_job("c", {"c": "3"}, credits_before=850.0))  # after: unknown
    deliver(history, a_job("old", {"d": "4"}, credits_before=5.0, credits_after=0.0), NOW - DAY)
    assert history.spent_since(NOW - 60) == 150
    assert history.spent_since(NOW - 60, ["20270115-080000-b"]) == 50


def test_a_database_created_where_a_history_was_kept_is_a_history_started_anew(
    tmp_path: Path,
) -> None:
    path = tmp_path / HISTORY_FILE
    with History(path, clock=lambda: NOW) as first:
        first.spent_since(0)  # opened: a first start is no reset
        assert first.started_anew() is None
    assert json.loads((tmp_path / MARKER).read_text())["anew"] is None
    with History(path, clock=lambda: NOW + 5) as again:
        again.spent_since(0)
        assert again.started_anew() is None, "the same database opened again"
    for name in (HISTORY_FILE, HISTORY_FILE + "-wal", HISTORY_FILE + "-shm"):
        (tmp_path / name).unlink(missing_ok=True)  # removed by hand
    with History(path, clock=lambda: NOW + 10) as anew:
        anew.spent_since(0)
        assert anew.started_anew() == NOW + 10


def test_retry_start_over_marks_the_job_as_paid_again_on_request(tmp_path: Path) -> None:
    root = tmp_path / "nw"
    settings = Settings(
        folders=FolderSettings(
            inbox=root / "inbox", outbox=root / "outbox", failed=root / "failed", state=root / "s"
        )
    )
    source = settings.folders.failed / "clip"
    source.mkdir(parents=True)
    (source / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom video")
    (source / "clip.txt").write_text("Trim")
    (source / "error.txt").write_text("clip was already delivered as clip.mp4 on ...\n")
    job = Job(id="j1", name="clip", kind="pair", media=["clip.mp4"], instructions_file="clip.txt")
    job.failure = Failure(message="already delivered", stage=JobStage.UPLOADED.value)
    JobFolder(source).save(job)
    assert retry(settings, "clip", Mode.START_OVER, lambda cost: True)
    (folder,) = settings.folders.work_dir.iterdir()
    assert JobFolder(folder).load().pay_again


def test_the_delivered_notification_says_what_the_job_cost() -> None:
    job = a_job("trip", {"a": "1"}, credits_before=1000.0, credits_after=900.0)
    job.cost_approximate = True
    note = from_job_event(events.Delivered.of(job, result="/out/trip.mp4", report=None), "")
    assert note is not None and note.extra["credits"] == 100
    assert "Cost: about 100 credits (approximate" in note.body()
