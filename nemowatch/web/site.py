"""What the web page reads besides the `Control`: settings, the history's rows, the failed folder.

site = Site(lambda: settings, HistoryReader(state_dir).job)
app = build_app(control, metrics, metrics_token=..., site=site)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from nemowatch.config import Settings
from nemowatch.history import History
from nemowatch.history_schema import Entry
from nemowatch.jobs.finish import ERROR_FILE
from nemowatch.jobs.results import shown_entries

#: failed jobs listed on the page at most (the folder itself holds them all)
FAILED_SHOWN = 50


@dataclass
class Site:
    """The web page's sources.

    Args:
        settings: the settings in force (folders, `jobs.max_file_mb`, `[web]`).
        job: a finished job by id (or name) from the history; called in a thread.
        address: the page's own address once it listens ("" before).
    """

    settings: Callable[[], Settings]
    job: Callable[[str], Entry | None]
    address: str = ""


SITE = web.AppKey[Site]("site")


class HistoryReader:
    """The history, read-only, opened when it first exists (the daemon writes it)."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir
        self._history: History | None = None
        self._lock = threading.Lock()

    def job(self, id_or_name: str) -> Entry | None:
        with self._lock:
            if self._history is None:
                self._history = History.existing(self._state_dir)
            history = self._history
        return history.job(id_or_name) if history is not None else None

    def close(self) -> None:
        with self._lock:
            if self._history is not None:
                self._history.close()
                self._history = None


@dataclass(frozen=True)
class Failure:
    """A job folder in the failed folder: what `retry` takes by name."""

    name: str
    reason: str
    at: float


def failures(failed: Path, limit: int = FAILED_SHOWN) -> list[Failure]:
    """The failed folder's jobs, newest first, each with the first paragraph of its
    `error.txt` (what went wrong)."""
    found: list[Failure] = []
    for path in shown_entries(failed):
        if path.is_symlink() or not path.is_dir():
            continue
        try:
            text = (path / ERROR_FILE).read_text(encoding="utf-8", errors="replace")
            at = (path / ERROR_FILE).stat().st_mtime
        except OSError:
            text, at = "", _mtime(path)
        reason = text.strip().split("\n\n", 1)[0].strip() or "(no error.txt)"
        found.append(Failure(path.name, reason, at))
    found.sort(key=lambda f: f.at, reverse=True)
    return found[:limit]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def editor_link(report: str | None) -> str | None:
    """The web editor's address from a report file ("Open in the web editor: ...")."""
    text = read_text(report)
    for line in text.splitlines():
        if line.startswith("Open in the web editor: "):
            link = line.split(": ", 1)[1].strip()
            return link if link.startswith(("http://", "https://")) else None
    return None


def read_text(path: str | None, limit: int = 1_000_000) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read(limit)
    except OSError:
        return ""
