"""`GET /metrics`: what the daemon did, in the Prometheus text format.

Counters and the stage histogram are fed by the job events (`handle`, a bus
subscriber); the conditions and the queue's length are read when Prometheus
scrapes, from their one source (never copied). Each daemon has a registry of
its own, so tests (and two daemons in one process) do not share counters.

    nemowatch_jobs_total{outcome}            delivered, failed, cancelled
    nemowatch_stage_seconds{stage}           time spent in each stage (histogram)
    nemowatch_credits_spent_total            from the ended jobs' balances
    nemowatch_bytes_uploaded_total           bytes sent in uploads (retries too)
    nemowatch_conditions_active{name}        1 while active; 0 once seen and released
    nemowatch_queue_length                   jobs waiting for a worker
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from nemowatch.conditions import Conditions
from nemowatch.jobs import events

#: what `render()` gives (the client library's text format)
CONTENT_TYPE = CONTENT_TYPE_LATEST
OUTCOMES = ("delivered", "failed", "cancelled")
#: from a second (a session) to hours (a long render held by a condition)
STAGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, float("inf"))
_ENDS = (events.Delivered, events.Failed, events.Cancelled, events.Stopped)


@dataclass
class _Running:
    stage: str
    since: float
    uploaded: float = 0.0


class Metrics:
    """The daemon's metrics.

    Args:
        conditions: the registry, read at each scrape.
        queued: how many jobs wait for a worker, read at each scrape.
    """

    def __init__(self, conditions: Conditions, queued: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._jobs = Counter(
            "nemowatch_jobs",
            "Jobs that ended, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self._jobs.labels(outcome)
        self._stages = Histogram(
            "nemowatch_stage_seconds",
            "Seconds a job spent in a stage (held time included).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self._credits = Counter(
            "nemowatch_credits_spent",
            "Credits spent by the jobs that ended (where both balances are known).",
            registry=self.registry,
        )
        self._uploaded = Counter(
            "nemowatch_bytes_uploaded",
            "Bytes sent in uploads, an attempt that was retried included.",
            registry=self.registry,
        )
        self.registry.register(_Live(conditions, queued))
        self._running: dict[str, _Running] = {}

    def handle(self, event: events.JobEvent) -> None:
        """The bus subscriber."""
        if isinstance(event, events.Claimed | events.StageReached):
            self._reach(event, event.stage.value)
        elif isinstance(event, events.Progress) and event.what == "upload":
            self._upload(event)
        elif isinstance(event, _ENDS):
            self._end(event)

    def render(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)

    def _reach(self, event: events.JobEvent, stage: str) -> None:
        running = self._running.get(event.job_id)
        if running is None:
            self._running[event.job_id] = _Running(stage, event.at)
        elif running.stage != stage:
            self._observe(running, event.at)
            running.stage, running.since = stage, event.at

    def _upload(self, event: events.Progress) -> None:
        running = self._running.setdefault(event.job_id, _Running("", event.at))
        # `done` counts the bytes of one attempt: it starts again from 0 on a retry
        sent = event.done - running.uploaded if event.done >= running.uploaded else event.done
        running.uploaded = event.done
        if sent > 0:
            self._uploaded.inc(sent)

    def _end(self, event: events.JobEvent) -> None:
        running = self._running.pop(event.job_id, None)
        if isinstance(event, events.Stopped):
            return  # not an ending: the job goes on after the restart
        if isinstance(event, events.Cancelled) and event.record is not None:
            if event.record.put_back:
                return  # its files went back to the inbox: it is claimed again
        if running is not None:
            self._observe(running, event.at)
        self._jobs.labels(_OUTCOME[type(event)]).inc()
        before = getattr(event.record, "credits_before", None)
        after = getattr(event.record, "credits_after", None)
        if isinstance(before, int | float) and isinstance(after, int | float) and before > after:
            self._credits.inc(before - after)

    def _observe(self, running: _Running, now: float) -> None:
        if running.stage:
            self._stages.labels(running.stage).observe(max(0.0, now - running.since))


_OUTCOME: dict[type[events.JobEvent], str] = {
    events.Delivered: "delivered",
    events.Failed: "failed",
    events.Cancelled: "cancelled",
}


class _Live:
    """The gauges read from their source at each scrape."""

    def __init__(self, conditions: Conditions, queued: Callable[[], int]) -> None:
        self._conditions = conditions
        self._queued = queued
        self._seen: set[str] = set()

    def collect(self) -> Iterable[Metric]:
        active = {c.name for c in self._conditions.active()}
        self._seen |= active
        gauge = GaugeMetricFamily(
            "nemowatch_conditions_active",
            "Whether a condition holds work (1) or not (0), by name.",
            labels=["name"],
        )
        for name in sorted(self._seen):
            gauge.add_metric([name], 1.0 if name in active else 0.0)
        yield gauge
        yield GaugeMetricFamily(
            "nemowatch_queue_length", "Jobs waiting for a worker.", value=self._queued()
        )
