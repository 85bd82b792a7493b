"""What `nemowatch history` prints: a table that fits 80 columns, or JSON.

It only reads the database, whether or not the daemon runs, and never creates
the state folder or the database: without them there is simply no history yet.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from nemowatch.config import Settings
from nemowatch.doing import duration
from nemowatch.errors import ExitCode
from nemowatch.history import History
from nemowatch.history_schema import Entry

#: the JSON format's version
SCHEMA = 1
WIDTH = 80
NAME_MAX = 20
#: "2026-11-22 01:13"
WHEN_WIDTH = 16
TIME_WIDTH = 6
CREDITS_WIDTH = 7
GAP = "  "


def command(
    settings: Settings,
    *,
    failed: bool = False,
    since: float | None = None,
    limit: int | None = None,
    as_json: bool = False,
) -> tuple[str, int]:
    """The text `nemowatch history` prints, and its exit code."""
    history = History.existing(settings.folders.state_dir)
    entries: list[Entry] = []
    if history is not None:
        try:
            with history:
                entries = history.jobs(failed_only=failed, since_days=since, limit=limit)
        except sqlite3.Error as exc:
            return _unreadable(history.path, exc), ExitCode.FAILED
    if as_json:
        return json.dumps({"schema": SCHEMA, "jobs": [e.to_json() for e in entries]}), ExitCode.OK
    if not entries:
        return empty(failed, since), ExitCode.OK
    return table(entries), ExitCode.OK


def _unreadable(path: Path, exc: sqlite3.Error) -> str:
    return (
        f"nemowatch: the history {path} cannot be read ({exc}); the daemon moves a damaged "
        "database aside and starts a new one when it next writes to it"
    )


def empty(failed: bool, since: float | None) -> str:
    """Plain words for an empty answer."""
    what = "failed jobs" if failed else "jobs"
    if since is not None:
        return f"No {what} in the last {since:g} days."
    return f"No {what} in the history yet." if not failed else "No failed jobs in the history."


def table(entries: list[Entry], width: int = WIDTH) -> str:
    """One line per job, newest first, every line at most `width` characters."""
    name_width = min(NAME_MAX, max(len("NAME"), *(len(e.name) for e in entries)))
    fixed = name_width + WHEN_WIDTH + TIME_WIDTH + CREDITS_WIDTH + 4 * len(GAP)
    what_width = max(10, width - fixed)
    header = ("NAME", "ENDED", "RESULT OR REASON", "TIME", "CREDITS")
    lines = [_line(header, name_width, what_width)]
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.ended))
        credits = "–" if e.credits is None else f"{'~' if e.cost_approximate else ''}{e.credits:g}"
        cells = (e.name, when, outcome(e), duration(e.duration), credits)
        lines.append(_line(cells, name_width, what_width))
    return "\n".join(lines)


def _line(cells: tuple[str, str, str, str, str], name_width: int, what_width: int) -> str:
    name, when, what, took, credits = cells
    return GAP.join(
        (
            fit(name, name_width).ljust(name_width),
            when.ljust(WHEN_WIDTH),
            fit(what, what_width).ljust(what_width),
            took.rjust(TIME_WIDTH),
            credits.rjust(CREDITS_WIDTH),
        )
    ).rstrip()


def outcome(entry: Entry) -> str:
    """The result's file name, or why the job did not deliver."""
    if entry.outcome == "delivered":
        return Path(entry.result).name if entry.result else "delivered"
    reason = " ".join((entry.reason or "").split())  # one line
    if reason.startswith(entry.outcome):  # "cancelled at rendering"
        return reason
    return f"{entry.outcome}: {reason}" if reason else entry.outcome


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"
