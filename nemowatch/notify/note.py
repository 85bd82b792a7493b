"""A notification: one event as the command reads it (JSON) and as a person reads it.

The JSON is a job event as the local API's live feed gives it (`schema`,
`event`, `job`, `name`, `result`, `reason`, `link`, `at`), plus the keys of
its kind (a `paused` note lists the `jobs` its condition holds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from urllib.parse import quote

from nemowatch.jobs import events
from nemowatch.notify.times import iso
from nemowatch.redact import redact

SCHEMA = 1
#: the environment variables the command gets, and the key each one carries
ENVIRONMENT = {
    "NEMOWATCH_EVENT": "event",
    "NEMOWATCH_JOB": "job",
    "NEMOWATCH_RESULT": "result",
    "NEMOWATCH_REASON": "reason",
}


@dataclass(frozen=True)
class Note:
    """One notification, whatever it is about."""

    event: str
    at: float
    job: str | None = None
    name: str | None = None
    result: str | None = None
    reason: str | None = None
    link: str | None = None
    #: keys of its kind: a condition's name, the jobs it holds, counts, a balance
    extra: dict[str, Any] = field(default_factory=dict)

    def data(self, zone: tzinfo) -> dict[str, Any]:
        """The event as JSON data (`at` in ISO 8601 with its offset)."""
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "event": self.event,
            "job": self.job,
            "name": self.name,
            "result": self.result,
            "reason": self.reason,
            "link": self.link,
            "at": iso(self.at, zone),
        }
        return data | self.extra

    def json(self, zone: tzinfo) -> str:
        return redact(json.dumps(self.data(zone), ensure_ascii=False))

    def environment(self) -> dict[str, str]:
        """`NEMOWATCH_EVENT`, `_JOB`, `_RESULT`, `_REASON` ("" where a key is empty)."""
        values = {"event": self.event, "job": self.job, "result": self.result}
        values["reason"] = self.reason
        return {var: redact(values[key] or "") for var, key in ENVIRONMENT.items()}

    def title(self) -> str:
        subject = self.name or self.extra.get("condition") or ""
        return f"nemowatch: {self.event.replace('_', ' ')}" + (f": {subject}" if subject else "")

    def body(self) -> str:
        """The text a person reads: what happened, and what to do when there is something."""
        lines = [self.reason or ""] if self.reason else []
        if self.result:
            lines.insert(0, f"Result: {self.result}")
        if self.extra.get("report"):
            lines.append(f"Report: {self.extra['report']}")
        if self.extra.get("cost"):
            lines.append(f"Cost: {self.extra['cost']}")
        if self.link:
            lines.append(f"Open: {self.link}")
        jobs: Sequence[str] = self.extra.get("jobs", ())
        if jobs:
            lines.append(f"Jobs waiting on it ({len(jobs)}): {', '.join(jobs)}")
        return redact("\n".join(lines) or self.title())


def job_link(public_url: str, job_id: str) -> str | None:
    """The web page's way on to the job in the web editor (`[web] public_url`, else the
    page's own address), when there is a page.

    The web editor's own address carries a claim token, which is never put into
    a message (the report keeps it masked too); the page links on to it.
    """
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/jobs/{quote(job_id, safe='')}/editor"


def from_job_event(event: events.JobEvent, public_url: str) -> Note | None:
    """The note a job event makes (delivered, failed), or None for the others."""
    link = job_link(public_url, event.job_id)
    if isinstance(event, events.Delivered):
        extra: dict[str, Any] = {"report": event.report} if event.report else {}
        job = event.record
        if job is not None and job.cost is not None:  # what the job cost
            extra.update(credits=job.cost, cost=job.cost_text())
        return Note(
            "delivered", event.at, event.job_id, event.name, event.result, None, link, extra
        )
    if isinstance(event, events.Failed):
        return Note("failed", event.at, event.job_id, event.name, None, failed_reason(event), link)
    return None


def failed_reason(event: events.Failed) -> str:
    """The plain reason, then what to do (from the journal's copy, when it says)."""
    reason = event.message or "the job failed"
    failure = event.record.failure if event.record is not None else None
    advice = failure.advice if failure is not None else ""
    if advice and advice not in reason:
        reason = f"{reason.rstrip()} {advice}"
    return reason
