"""The live feed of `GET /api/events`: the job events as JSON, one queue per client.

One bus subscriber (`EventFeed.handle`) turns each job event into its JSON
once and offers it to every connected client's queue; a client that falls
behind loses events (with a line in the log), never the daemon's time. At
shutdown each queue gets an end marker, so every open stream ends cleanly.

The JSON is the notification's (`nemowatch.notify.note`): `schema`, `event`,
`job`, `name`, `result`, `reason`, `link`, `at`, plus the keys of its kind
(`stage`, `what`/`done`/`total`, `condition`, ...).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import tzinfo
from typing import Any

from nemowatch.jobs import events
from nemowatch.notify.note import Note, from_job_event, job_link
from nemowatch.notify.times import local_zone
from nemowatch.redact import redact

log = logging.getLogger("nemowatch")

#: events kept for one client that reads slowly; past that it loses the newest
CLIENT_QUEUE = 256


def event_data(event: events.JobEvent, public_url: str, zone: tzinfo) -> dict[str, Any]:
    """A job event as the live feed (and a notification's command) gives it."""
    note = from_job_event(event, public_url) or _note(event, job_link(public_url, event.job_id))
    return note.data(zone)


def _note(event: events.JobEvent, link: str | None) -> Note:
    """The note of an event the notifications leave alone (all but delivered, failed)."""
    extra: dict[str, Any] = {}
    reason: str | None = None
    if isinstance(event, events.Claimed | events.StageReached):
        extra["stage"] = event.stage.value
    elif isinstance(event, events.Progress):
        extra.update(what=event.what, done=event.done, total=event.total)
    elif isinstance(event, events.TurnAnswered):
        extra.update(index=event.index, count=event.count, verified=event.verified)
        extra["answer"] = event.answer
    elif isinstance(event, events.Held):
        reason = event.reason
        extra.update(stage=event.stage.value, condition=event.condition)
    elif isinstance(event, events.Waiting):
        reason = event.reason or None
        extra["stage"] = event.stage.value
    elif isinstance(event, events.Cancelled):
        record = event.record
        failure = record.failure if record is not None else None
        reason = failure.message if failure is not None else f"cancelled at {event.stage}"
        extra.update(stage=event.stage, put_back=bool(record is not None and record.put_back))
    kind = _NAMES.get(type(event), type(event).__name__.lower())
    return Note(kind, event.at, event.job_id, event.name, None, reason, link, extra)


_NAMES: dict[type[events.JobEvent], str] = {
    events.Claimed: "claimed",
    events.StageReached: "stage",
    events.Progress: "progress",
    events.TurnAnswered: "turn",
    events.Held: "held",
    events.Waiting: "waiting",
    events.Released: "released",
    events.Cancelled: "cancelled",
    events.Stopped: "stopped",
}


class EventFeed:
    """Fans the job events out to the clients of `GET /api/events`.

    Args:
        public_url: `[web] public_url`, for the events' `link` ("" for none).
        zone: the time zone of `at` (the machine's when None).
    """

    def __init__(self, public_url: str = "", zone: tzinfo | None = None) -> None:
        self._public_url = public_url
        self._zone = zone or local_zone()
        self._clients: dict[asyncio.Queue[str | None], int] = {}  # queue -> events dropped
        self.closed = False

    def handle(self, event: events.JobEvent) -> None:
        """The bus subscriber: one JSON text for every client."""
        if not self._clients:
            return
        text = redact(json.dumps(event_data(event, self._public_url, self._zone)))
        for queue in self._clients:
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                dropped = self._clients[queue] = self._clients[queue] + 1
                if dropped == 1 or dropped % 1000 == 0:
                    log.warning("a live feed client falls behind: %d event(s) dropped", dropped)

    def open(self) -> asyncio.Queue[str | None]:
        """A queue for one client: JSON texts, then None when the feed ends."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(CLIENT_QUEUE)
        if self.closed:
            queue.put_nowait(None)
        else:
            self._clients[queue] = 0
        return queue

    def leave(self, queue: asyncio.Queue[str | None]) -> None:
        self._clients.pop(queue, None)

    def close(self) -> None:
        """End every stream now (shutdown); streams opened later end at once."""
        self.closed = True
        for queue in self._clients:
            if queue.full():  # the end marker must get in: it costs the oldest event
                queue.get_nowait()
            queue.put_nowait(None)
        self._clients.clear()

    @property
    def clients(self) -> int:
        return len(self._clients)
