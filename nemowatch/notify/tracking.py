"""What is worth a message about held work: conditions that last, files that wait.

A condition is worth a message only when it lasts: `paused` goes out once it
has been active for `PAUSE_AFTER` seconds, one message naming every job it
holds, and `resumed` when it clears, only if `paused` went out. A file in the
inbox that waits on its user (no instructions, unreadable) is worth a `held`
message once it has waited as long; one that is still being written, or that
fails by itself in a moment, is not.

Pure bookkeeping on the times handed in: the notifier owns the clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nemowatch.conditions import Condition
from nemowatch.notify.note import Note

#: how long a condition (or a waiting file) lasts before it is worth a message
PAUSE_AFTER = 120.0
#: the condition `nemowatch pause` raises: the user asked for it, nobody is told
USER_PAUSE = "paused"
#: the registry's conditions (a Held event naming another one is a job's own hold)
CONDITIONS = frozenset(
    {"credits", "plan", "token", "quota", "account", "network", "disk", "folder missing"}
    | {"budget", "hours", "work hours", USER_PAUSE}
)
#: waiting reasons that pass by themselves (still being written, about to fail)
_PASSING = ("still being written", "(fails in ")


@dataclass
class _Active:
    since: float
    reason: str
    announced: bool = False


class Holds:
    """The active conditions as last seen, and the jobs each one holds."""

    def __init__(self) -> None:
        self._active: dict[str, _Active] = {}
        self._jobs: defaultdict[str, set[str]] = defaultdict(set)

    def is_condition(self, name: str) -> bool:
        return name in self._active or name in CONDITIONS

    def hold(self, condition: str, job_name: str) -> None:
        self._jobs[condition].add(job_name)

    def release(self, job_name: str) -> None:
        """The job is back in line or ended: no condition holds it any more."""
        for names in self._jobs.values():
            names.discard(job_name)

    def update(self, active: Sequence[Condition], now: float) -> list[Note]:
        """Take the registry's active conditions; the `resumed` notes of those gone."""
        current = {c.name: c for c in active if c.name != USER_PAUSE}
        notes = []
        for name in list(self._active):
            if name not in current:
                gone = self._active.pop(name)
                if gone.announced:
                    notes.append(
                        Note(
                            "resumed",
                            now,
                            reason=f"cleared: {gone.reason}",
                            extra={"condition": name},
                        )
                    )
                self._jobs.pop(name, None)
        for name, condition in current.items():
            seen = self._active.setdefault(name, _Active(condition.since, condition.reason))
            seen.reason = condition.reason
        return notes

    def due(self, now: float) -> list[Note]:
        """The `paused` notes of conditions active for `PAUSE_AFTER` seconds, once each."""
        notes = []
        for name, seen in self._active.items():
            if seen.announced or now - seen.since < PAUSE_AFTER:
                continue
            seen.announced = True
            jobs = sorted(self._jobs.get(name, ()))
            extra = {"condition": name, "jobs": jobs}
            notes.append(Note("paused", now, reason=seen.reason, extra=extra))
        return notes


class Waits:
    """Inbox entries that wait on their user, and which were already told."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, float]] = {}
        self._told: dict[str, str] = {}

    def update(self, items: Iterable[tuple[str, str]], now: float) -> None:
        """The inbox's waiting entries as (name, reason), all of them, at each look."""
        current = {name: reason for name, reason in items if not passes(reason)}
        for name in list(self._seen):
            if current.get(name) != self._seen[name][0]:
                del self._seen[name]
        for name in list(self._told):
            if name not in current:
                del self._told[name]  # gone: told again if it comes back
        for name, reason in current.items():
            self._seen.setdefault(name, (reason, now))

    def due(self, now: float) -> list[tuple[str, str]]:
        """(name, reason) of entries that waited `PAUSE_AFTER` seconds and were not told."""
        return [
            (name, reason)
            for name, (reason, since) in self._seen.items()
            if now - since >= PAUSE_AFTER and self._told.get(name) != reason
        ]

    def tell(self, name: str, reason: str) -> bool:
        """Mark `name` told about `reason`; False when it already was."""
        if self._told.get(name) == reason:
            return False
        self._told[name] = reason
        return True

    def forget(self, name: str) -> None:
        self._told.pop(name, None)
        self._seen.pop(name, None)


def passes(reason: str) -> bool:
    """A waiting reason that passes by itself, without the user."""
    return any(text in reason for text in _PASSING)
