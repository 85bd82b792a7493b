"""The metrics, counted from real job events and read from the real condition registry."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from nemowatch.conditions import Conditions, Work
from nemowatch.jobs import events
from nemowatch.jobs.model import Job, JobStage
from nemowatch.web.metrics import Metrics
from tests.web.webfakes import served

NOW = 1_800_000_000.0


class FutureJob(Job):
    """A journal with the balances a later issue adds: the metrics read them when present."""

    credits_before: float | None = None
    credits_after: float | None = None


def a_job(name: str, **fields: object) -> Job:
    job = FutureJob(id=f"id-{name}", name=name, kind="pair", media=[f"{name}.mp4"])
    for key, value in fields.items():
        setattr(job, key, value)
    return job


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_jobs_stages_credits_and_uploads_are_counted_from_events() -> None:
    metrics = Metrics(Conditions(), lambda: 0)
    one = a_job("one", credits_before=100.0, credits_after=93.5)
    two, three, four = a_job("two"), a_job("three"), a_job("four", put_back=True)
    for event in [
        events.Claimed.of(one, at=NOW),
        events.StageReached.of(one, stage=JobStage.SESSION, at=NOW + 2),
        events.Progress.of(one, what="upload", done=100, total=300, at=NOW + 3),
        events.Progress.of(one, what="upload", done=300, total=300, at=NOW + 4),
        events.Progress.of(one, what="upload", done=50, total=300, at=NOW + 5),  # a retry
        events.Progress.of(one, what="render", done=50, total=100, at=NOW + 6),
        events.StageReached.of(one, stage=JobStage.UPLOADED, at=NOW + 12),
        events.Delivered.of(one, result="/out/one.mp4", at=NOW + 40),
        events.Claimed.of(two, at=NOW),
        events.Failed.of(two, stage="claimed", message="empty", at=NOW + 1),
        events.Cancelled.of(three, stage="claimed", at=NOW + 1),
        events.Cancelled.of(four, stage="claimed", at=NOW + 1),  # back to the inbox
        events.Claimed.of(three, at=NOW + 5),
        events.Stopped.of(three, at=NOW + 6),  # not an ending
    ]:
        metrics.handle(event)
    found = samples(metrics)
    for outcome in ("delivered", "failed", "cancelled"):
        assert found["nemowatch_jobs_total", (("outcome", outcome),)] == 1
    assert found["nemowatch_credits_spent_total", ()] == 6.5
    assert found["nemowatch_bytes_uploaded_total", ()] == 350
    stage = "nemowatch_stage_seconds"
    assert found[f"{stage}_sum", (("stage", "claimed"),)] == 2 + 1  # one, then two
    assert found[f"{stage}_count", (("stage", "claimed"),)] == 2
    assert found[f"{stage}_sum", (("stage", "session"),)] == 10
    assert found[f"{stage}_sum", (("stage", "uploaded"),)] == 28
    assert found[f"{stage}_bucket", (("le", "30.0"), ("stage", "uploaded"))] == 1


def test_conditions_and_the_queue_are_read_at_each_scrape() -> None:
    conditions, queued = Conditions(), [3]
    metrics = Metrics(conditions, lambda: queued[0])
    conditions.raise_("network", "the network is down", Work.API)
    conditions.raise_("paused", "paused by the user", Work.CLAIMS)
    first = samples(metrics)
    conditions.release("network")
    queued[0] = 0
    second = samples(metrics)
    active = "nemowatch_conditions_active"
    assert first[active, (("name", "network"),)] == 1
    assert first[active, (("name", "paused"),)] == 1
    assert first["nemowatch_queue_length", ()] == 3
    assert second[active, (("name", "network"),)] == 0  # seen, now released
    assert second[active, (("name", "paused"),)] == 1
    assert second["nemowatch_queue_length", ()] == 0


def test_each_daemon_has_registers_of_its_own() -> None:
    first, second = Metrics(Conditions(), lambda: 0), Metrics(Conditions(), lambda: 0)
    first.handle(events.Delivered.of(a_job("one"), result="/out/one.mp4"))
    assert samples(first)["nemowatch_jobs_total", (("outcome", "delivered"),)] == 1
    assert samples(second)["nemowatch_jobs_total", (("outcome", "delivered"),)] == 0


async def test_the_server_feeds_the_metrics_from_the_bus(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    async with served(tmp_path / "state") as api, api.client() as http:
        api.control.bus.emit(events.Failed.of(a_job("two"), stage="claimed", message="empty"))
        await api.control.bus.stop()  # delivers what is queued
        text = (await http.get("/metrics")).text
    assert 'nemowatch_jobs_total{outcome="failed"} 1.0' in text
