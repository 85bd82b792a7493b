"""What the workflows read from the history: the result a refinement continues.

`NAME.refine.txt` continues the latest delivered version of the result NAME
(`latest_delivered`); `retry --start-over` of a refinement whose session is
gone redoes the whole chain from the original (`chain`).
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from nemowatch.history_schema import Entry

#: the most links followed back from a refinement to its original
CHAIN_MAX = 1000
#: delivered jobs looked at when NAME is a result's file name rather than a job's name
RESULT_NAMES_SCANNED = 2000


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


class WorkflowQueries:
    """The history's reads for refinements (mixed into `History`)."""

    def _select(self, sql: str, args: Iterable[object] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def latest_delivered(self, name: str, preset: str | None, since: float) -> Entry | None:
        """The latest job delivered since `since` from the same folder (`preset`) whose
        name is NAME, or whose result's file name is (`clip v2` for `clip v2.mp4`)."""
        rows = self._select(
            "SELECT * FROM jobs WHERE outcome = 'delivered' AND ended >= ? AND preset IS ?"
            " ORDER BY ended DESC, id DESC LIMIT ?",
            (since, preset, RESULT_NAMES_SCANNED),
        )
        wanted = _key(name)
        entries = [Entry.from_row(row) for row in rows]
        for entry in entries:
            if _key(entry.name) == wanted:
                return entry
        for entry in entries:
            if entry.result and _key(Path(entry.result).stem) == wanted:
                return entry
        return None

    def chain(self, job_id: str) -> list[Entry]:
        """The job `job_id` and the ones it refines, back to the original: oldest first."""
        found: list[Entry] = []
        next_id: str | None = job_id
        while next_id is not None and len(found) < CHAIN_MAX:
            rows = self._select("SELECT * FROM jobs WHERE id = ?", (next_id,))
            if not rows:
                break
            entry = Entry.from_row(rows[0])
            found.append(entry)
            next_id = entry.refines
        return found[::-1]
