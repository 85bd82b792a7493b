"""The notifier: which events are worth a message, when, and to which channels.

It hears the job events (`handle`), the conditions (`conditions_changed`),
the balance (`credits`) and the inbox's waiting files (`waiting`, `held`),
and is ticked by the daemon's scheduler (`tick`) for what depends on time:
a condition that lasts, the end of quiet hours, the daily summary. Nothing
here blocks: each delivery is a task of the `Sender`, and a job never waits
for one.

    notifier = Notifier(lambda: settings)
    bus.subscribe("notifications", notifier.handle)
    conditions.listen(lambda: notifier.conditions_changed(conditions.active()))
    scheduler.add_job(notifier.tick_async, "interval", seconds=TICK_SECONDS)
    ...
    await notifier.stop(grace)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from functools import partial
from typing import TYPE_CHECKING, Any

from nemowatch.conditions import Condition
from nemowatch.errors import UsageError
from nemowatch.jobs import events
from nemowatch.notify.channels import (
    Sender,
    command_environment,
    daemon_environment,
    run_command,
    send_apprise,
)
from nemowatch.notify.note import Note, from_job_event
from nemowatch.notify.times import Clock, as_local, iso, local_zone, next_time, quiet_until
from nemowatch.notify.tracking import Holds, Waits
from nemowatch.notify.urls import mask_url
from nemowatch.sections import WebSettings
from nemowatch.web.address import parse_listen, url_of

if TYPE_CHECKING:  # config.masked_dump calls into this package: no run-time import of config
    from nemowatch.config import Settings

log = logging.getLogger("nemowatch")

#: how often the scheduler ticks the notifier (a lasting condition is told within this)
TICK_SECONDS = 15.0
#: `summary_source(since, until)` -> {"delivered", "failed", "cancelled", "credits"}
SummarySource = Callable[[float, float], Mapping[str, Any]]
_ENDED = (events.Delivered, events.Failed, events.Cancelled)


class Notifier:
    """Turns what happens into notifications, and sends them off the daemon's path.

    Args:
        settings: the settings in force (read at each use: a reload changes them).
        clock: now, as an aware datetime or epoch seconds (tests pass a fake one).
        zone: the time zone of `quiet_hours` and `summary_at` (the machine's).
        sender: delivers with retries (tests pass one with short pauses).
        summary_source: the day's counts for the summary (the history's);
            without one, the notifier counts the jobs it saw end.
        queued_cost: the credits the jobs in line need, for `credits_low`.
        environ: the environment the command starts from (the daemon's).
    """

    def __init__(
        self,
        settings: Callable[[], Settings],
        *,
        clock: Clock = time.time,
        zone: tzinfo | None = None,
        sender: Sender | None = None,
        summary_source: SummarySource | None = None,
        queued_cost: Callable[[], float] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._zone = zone or local_zone()
        self._sender = sender or Sender()
        self.summary_source = summary_source
        self._queued_cost = queued_cost
        self._environ = dict(environ) if environ is not None else daemon_environment()
        self._holds = Holds()
        self._waits = Waits()
        self._kept: list[Note] = []  # Apprise messages of the quiet hours
        self._ended: list[tuple[float, str]] = []  # (when, outcome), for the summary
        self._low = False
        self._summary: tuple[str, datetime] | None = None  # (summary_at, next time)

    # -- what happens -------------------------------------------------------

    def handle(self, event: events.JobEvent) -> None:
        """A job event from the bus: delivered and failed are told; holds are tracked."""
        if isinstance(event, events.Held):
            if self._holds.is_condition(event.condition):
                self._holds.hold(event.condition, event.name)
            else:  # a hold of the job's own: only its user can fix it
                self.held(event.name, event.reason or event.condition, job=event.job_id)
            return
        if isinstance(event, (events.Released, *_ENDED)):
            self._holds.release(event.name)
            self._waits.forget(event.name)
        if isinstance(event, _ENDED):
            self._ended.append((event.at, type(event).__name__.lower()))
        note = from_job_event(event, page_address(self._settings().web))
        if note is not None:
            self._emit(note)

    def held(self, name: str, reason: str, *, job: str | None = None) -> None:
        """`name` waits on something only its user can fix (told once per reason)."""
        if self._waits.tell(name, reason):
            self._emit(Note("held", self._now().timestamp(), job, name, reason=reason))

    def waiting(self, items: Iterable[tuple[str, str]]) -> None:
        """The inbox's waiting entries, (name, reason) each, at every look at the inbox.

        One still waiting on its user after two minutes is told as `held`.
        """
        self._waits.update(items, self._now().timestamp())

    def conditions_changed(self, active: Sequence[Condition]) -> None:
        """The registry changed; `active` is what it holds now (`Conditions.active()`)."""
        try:
            for note in self._holds.update(active, self._now().timestamp()):
                self._emit(note)
        except Exception:  # noqa: BLE001 - called inside the registry: never break a raise
            log.exception("notifications failed on a condition change")

    def credits(self, balance: float, queued_cost: float | None = None) -> None:
        """The balance was read: told once when it falls under what the queue needs."""
        if queued_cost is None:
            queued_cost = self._queued_cost() if self._queued_cost else 0.0
        if balance >= queued_cost:
            self._low = False
            return
        if self._low:
            return
        self._low = True
        reason = (
            f"{balance:g} credits left, under the {queued_cost:g} the jobs in line need: "
            "top up your NemoVideo account"
        )
        extra = {"balance": balance, "queued_cost": queued_cost}
        self._emit(Note("credits_low", self._now().timestamp(), reason=reason, extra=extra))

    # -- what depends on time -------------------------------------------------

    def tick(self) -> None:
        """Send what has come due: lasting conditions, the quiet hours' messages, the summary."""
        now = self._now()
        stamp = now.timestamp()
        for note in self._holds.due(stamp):
            self._emit(note)
        for name, reason in self._waits.due(stamp):
            self.held(name, reason)
        notify = self._settings().notify
        if self._kept and quiet_until(notify.quiet_hours, now) is None:
            kept, self._kept = self._kept, []
            self._send_apprise(kept)
        self._summary_due(notify.summary_at, now)
        self._ended = [(at, what) for at, what in self._ended if at > stamp - 2 * 86400]

    async def tick_async(self) -> None:
        """`tick` for the scheduler (a coroutine runs on the loop, not in a thread)."""
        self.tick()

    def _summary_due(self, at: str, now: datetime) -> None:
        if not at:
            self._summary = None
            return
        if self._summary is None or self._summary[0] != at:  # first tick, or a reload
            self._summary = (at, next_time(at, now))
            return
        due = self._summary[1]
        if now < due:
            return
        self._summary = (at, next_time(at, now))
        if "summary" in self._settings().notify.events:
            self._emit(self._summary_note(due - timedelta(days=1), due))

    def _summary_note(self, since: datetime, until: datetime) -> Note:
        start, end = since.timestamp(), until.timestamp()
        counts: Mapping[str, Any]
        seen = [what for at, what in self._ended if start <= at < end]
        counts = {k: seen.count(k) for k in ("delivered", "failed", "cancelled")}
        if self.summary_source is not None:
            try:
                counts = self.summary_source(start, end)
            except Exception as exc:  # noqa: BLE001 - the jobs seen ending are counted instead
                log.warning("the summary counts what this run saw: the history failed (%s)", exc)
        parts = [f"{counts.get(k, 0)} {k}" for k in ("delivered", "failed", "cancelled")]
        credits = counts.get("credits")
        spent = f"{credits:g} credits spent" if credits is not None else "credits spent: unknown"
        extra = {k: counts.get(k) for k in ("delivered", "failed", "cancelled", "credits")}
        extra |= {"since": iso(start, self._zone), "until": iso(end, self._zone)}
        return Note("summary", end, reason=f"{', '.join(parts)}; {spent}", extra=extra)

    # -- sending ------------------------------------------------------------------

    def _emit(self, note: Note) -> None:
        """Send `note` to the channels, if its kind is wanted: the command at once,
        the URLs now or at the end of the quiet hours."""
        notify = self._settings().notify
        if note.event not in notify.events:
            return
        log.debug("notification: %s %s", note.event, note.name or note.extra.get("condition", ""))
        if notify.command:
            self._send_command(notify.command, note, notify.timeout_seconds)
        if not notify.urls:
            return
        if quiet_until(notify.quiet_hours, self._now()) is not None:
            self._kept.append(note)
        else:
            self._send_apprise([note])

    def _send_command(self, command: str, note: Note, timeout: float) -> None:
        env = command_environment(self._environ, note.environment())
        attempt = partial(run_command, command, note.json(self._zone), env, timeout)
        self._sender.submit("the notification command", attempt)

    def _send_apprise(self, notes: list[Note]) -> None:
        notify = self._settings().notify
        title, body = _message(notes)
        for secret in notify.urls:
            url = secret.get_secret_value()
            attempt = partial(send_apprise, url, title, body, notify.timeout_seconds)
            self._sender.submit(mask_url(url), attempt)

    def _now(self) -> datetime:
        return as_local(self._clock(), self._zone)

    async def stop(self, grace: float) -> None:
        """Let what is being sent finish within `grace` seconds; then give it up."""
        await asyncio.sleep(0)  # the bus's last events, if its task is about to run
        if self._kept:
            log.info("%d notification(s) kept for the quiet hours were not sent", len(self._kept))
            self._kept = []
        await self._sender.stop(grace)


def page_address(web: WebSettings) -> str:
    """`[web] public_url`, else the address the page listens on ("" when it is off)."""
    if web.public_url or not web.listen:
        return web.public_url
    try:
        return url_of(*parse_listen(web.listen))
    except UsageError:
        return ""


def _message(notes: list[Note]) -> tuple[str, str]:
    """(title, body): one note as it is, several as one message."""
    if len(notes) == 1:
        return notes[0].title(), notes[0].body()
    title = f"nemowatch: {len(notes)} notifications from the quiet hours"
    return title, "\n\n".join(f"{note.title()}\n{note.body()}" for note in notes)
