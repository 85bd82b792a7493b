"""The status board: what `nemowatch status` and `systemctl status` show.

A subscriber of the job events. It keeps one line per job that is running or
held, the files waiting in the inbox, the credits last read, and reads the
active conditions from their registry when it writes. The status file is
rewritten within a second of a change (not fsynced: it is rewritten while the
daemon runs), with a heartbeat every 30 s for `updated_at`; systemd's STATUS
line goes out with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from nemowatch import status
from nemowatch.conditions import Conditions
from nemowatch.doing import Facts, describe
from nemowatch.jobs import events
from nemowatch.systemd import Notifier
from nemowatch.watch.rules import Waiting

log = logging.getLogger("nemowatch")

#: how soon after a change the status file is written
WRITE_DELAY = 1.0
#: events that end a job's line on the board
_ENDS = (events.Released, events.Delivered, events.Failed, events.Cancelled, events.Stopped)


class StatusBoard:
    """Job lines, waiting files, credits and conditions, written as the status file.

    Args:
        state_dir: where the status file goes.
        conditions: the registry, read (never copied) at each write.
        notifier: systemd's notify protocol, for the STATUS line.
        queued: how many jobs wait for a worker.
        next_probe: when conditions without a schedule of their own are probed next.
    """

    def __init__(
        self,
        state_dir: Path,
        conditions: Conditions,
        notifier: Notifier,
        queued: Callable[[], int],
        *,
        next_probe: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._state_dir = state_dir
        self._conditions = conditions
        self._notifier = notifier
        self._queued = queued
        self._next_probe = next_probe
        self.started_at = time.time()
        self.jobs: dict[str, status.JobLine] = {}
        self.facts: dict[str, Facts] = {}  # what `doing` is made of, by job id
        self.waiting: list[Waiting] = []
        #: the waiting list as the status file shows it, and its JSON: made again on a change
        self._waiting_rows: list[dict[str, str]] = []
        self._waiting_text: str | None = None
        self.credits: float | None = None
        self._dirty = True
        self._pending = False

    # -- what changes -------------------------------------------------------

    def handle(self, event: events.JobEvent) -> None:
        """The job events' subscriber."""
        line, facts = self.jobs.get(event.job_id), self.facts.get(event.job_id)
        if isinstance(event, _ENDS):
            self.jobs.pop(event.job_id, None)
            self.facts.pop(event.job_id, None)
        elif isinstance(event, events.StageReached):
            if line is None:
                line = self.jobs[event.job_id] = status.JobLine(event.job_id, event.name, "")
            line.stage, line.held, line.progress = event.stage.value, None, ""
            line.since = event.at
            self.facts[event.job_id] = Facts(event.stage.value, since=event.at)
        elif isinstance(event, events.Held):
            self.jobs[event.job_id] = status.JobLine(
                event.job_id, event.name, event.stage.value, held=event.condition, since=event.at
            )
            self.facts[event.job_id] = Facts(event.stage.value, since=event.at, held=event.reason)
        elif isinstance(event, events.Waiting) and line is not None and facts is not None:
            line.progress = facts.waiting = event.reason  # tries again by itself
        elif isinstance(event, events.Progress) and line is not None and facts is not None:
            self._progress(line, facts, event)
        else:
            return
        self.mark()

    @staticmethod
    def _progress(line: status.JobLine, facts: Facts, event: events.Progress) -> None:
        what, done, total = event.what, event.done, event.total
        line.progress = f"{what} {100 * done / total:.0f}%" if total else what
        facts.waiting = ""
        facts.what, facts.percent = what, 100 * done / total if total else None
        if event.turns and event.turn != facts.turn:
            facts.turn, facts.turns, facts.turn_since = event.turn, event.turns, event.at

    def set_waiting(self, waiting: list[Waiting]) -> None:
        if waiting != self.waiting:
            self.waiting = waiting
            self._waiting_rows = [{"path": str(w.path), "reason": w.reason} for w in waiting]
            self._waiting_text = None
            self.mark()  # only on a change: an idle rescan of a big inbox writes nothing

    def set_credits(self, credits: float) -> None:
        if credits != self.credits:
            self.credits = credits
            self.mark()

    def mark(self) -> None:
        """Something `status` shows changed: write the status file within a second."""
        self._dirty = True
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_later(WRITE_DELAY, self._flush)

    # -- writing ------------------------------------------------------------

    def _flush(self) -> None:
        self._pending = False
        self.write()

    def write(self, force: bool = False, *, stopped: bool = False) -> None:
        if not (self._dirty or force):
            return
        self._dirty = False
        snapshot = self.snapshot(stopped=stopped)
        if self._waiting_text is None:
            self._waiting_text = status.encode_waiting(snapshot.waiting)
        try:
            status.write(self._state_dir, snapshot, self._waiting_text)
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)
        self._notifier.status(self.line(snapshot))

    def snapshot(self, *, stopped: bool = False) -> status.Snapshot:
        """What `status` shows, as of now."""
        active = self._conditions.active()
        reasons = {c.name: c.reason for c in active}
        probe = self._next_probe() if active else None
        checks = [c.next_check or probe for c in active]
        next_check = min((c for c in checks if c), default=None)
        now = time.time()
        held_lines = [
            status.JobLine(
                j.id,
                j.name,
                j.stage,
                j.progress,
                reasons.get(j.held or "", j.held),
                j.since,
                doing=describe(self.facts.get(j.id) or Facts(j.stage, j.since), now),
            )
            for j in self.jobs.values()
        ]
        snapshot = status.Snapshot(
            pid=os.getpid(),
            started_at=self.started_at,
            updated_at=time.time(),
            paused="; ".join(c.reason for c in active) or None,
            next_check=next_check,
            conditions=[
                {"name": c.name, "reason": c.reason, "since": c.since, "next_check": when}
                for c, when in zip(active, checks, strict=True)
            ],
            credits=self.credits,
            queued=self._queued(),
            jobs=held_lines,
            waiting=self._waiting_rows,
            stopped=stopped,
        )
        return snapshot

    def line(self, snapshot: status.Snapshot) -> str:
        """What `systemctl status` shows: "2 running, 5 queued" or what holds the work."""
        if snapshot.paused:
            check = snapshot.next_check
            when = time.strftime(", next check %H:%M", time.localtime(check)) if check else ""
            return f"paused: {snapshot.paused}{when}"
        running = sum(1 for j in self.jobs.values() if not j.held)
        return f"{running} running, {snapshot.queued} queued"
