"""What cost control reads from the history: earlier deliveries, today's spending, resets
(and the daily summary: a day's outcomes and credits).

The duplicate guard asks for a job delivered lately with the same media and
instructions (`delivered_like`); the budget for the credits spent since
midnight (`spent_since`) and whether the history was started anew, which
leaves today's spending unknown (`started_anew`).

A history is "started anew" when its database is created where one existed
before: the damaged one was moved aside, or the file was removed. The marker
`history.started` beside the database remembers that a history was kept here
(and when one was last started anew); a first start leaves no such mark.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nemowatch.fsutil import write_atomic
from nemowatch.history_schema import Entry

#: beside the database: a history was kept here, and when it was last started anew
MARKER = "history.started"


class CostQueries:
    """The history's reads for cost control (mixed into `History`)."""

    path: Path

    def _select(self, sql: str, args: Iterable[object] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def delivered_like(
        self, digests: Sequence[str], instructions: Sequence[str], preset: str | None, since: float
    ) -> Entry | None:
        """The latest job delivered since `since` with the same media (by sha256, in any
        order and under any name), the same instructions (trimmed) and the same preset."""
        if not digests:
            return None
        wanted_media, wanted_text = sorted(digests), [t.strip() for t in instructions]
        rows = self._select(
            "SELECT * FROM jobs WHERE outcome = 'delivered' AND ended >= ? AND media LIKE ?"
            " ORDER BY ended DESC",
            (since, f'%"{digests[0]}"%'),
        )
        for row in rows:
            entry = Entry.from_row(row)
            media = sorted(str(m.get("sha256")) for m in entry.media)
            same_text = [t.strip() for t in entry.instructions] == wanted_text
            if media == wanted_media and same_text and entry.preset == preset:
                return entry
        return None

    def spent_since(self, since: float, leave_out: Iterable[str] = ()) -> float:
        """Credits the jobs that ended since `since` spent, as far as known (both balances
        read), but for the jobs in `leave_out` (counted by the caller)."""
        skip = set(leave_out)
        rows = self._select(
            "SELECT id, credits_before - credits_after FROM jobs WHERE ended >= ?"
            " AND credits_before IS NOT NULL AND credits_after IS NOT NULL",
            (since,),
        )
        return float(sum(max(0.0, spent) for job_id, spent in rows if job_id not in skip))

    def day_summary(self, since: float, until: float) -> dict[str, Any]:
        """What ended in [since, until): counts by outcome and the credits known spent
        (None when no job of the span knows its credits)."""
        span = (since, until)
        counts = {"delivered": 0, "failed": 0, "cancelled": 0}
        by_outcome = "SELECT outcome, COUNT(*) FROM jobs WHERE ended >= ? AND ended < ? "
        for outcome, count in self._select(by_outcome + "GROUP BY outcome", span):
            counts[outcome] = count
        spent = self._select(
            "SELECT SUM(credits_before - credits_after) FROM jobs WHERE ended >= ? AND ended < ?"
            " AND credits_before IS NOT NULL AND credits_after IS NOT NULL",
            span,
        )
        return {**counts, "credits": spent[0][0] if spent else None}

    def started_anew(self) -> float | None:
        """When the database was last started anew where a history had been kept (None:
        never, or not known)."""
        return started_anew(self.path)


def note_start(database: Path, fresh: bool, now: float) -> None:
    """Called when the database is opened for writing: a `fresh` (new, empty) database
    where the marker says a history was kept is a history started anew at `now`."""
    marker = database.with_name(MARKER)
    if marker.exists() and not fresh:
        return
    kept = _read(marker)
    if fresh and kept is not None:
        kept["anew"] = now
    data = kept if kept is not None else {"first": now, "anew": None}
    with contextlib.suppress(OSError):  # a full disk: the history says so by itself
        write_atomic(marker, json.dumps(data).encode(), durable=True)


def started_anew(database: Path) -> float | None:
    value = (_read(database.with_name(MARKER)) or {}).get("anew")
    return float(value) if isinstance(value, int | float) else None


def _read(marker: Path) -> dict[str, object] | None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # there, but unreadable: a history was kept here all the same
    return data if isinstance(data, dict) else {}
