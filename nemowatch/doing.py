"""What a job is doing, in words: the line `status`, the local API and the web page show.

    turn 1 of 2: the editor is working, 40 s
    waiting for the render, 62 %
    held: out of credits since 14:02

The status board keeps the facts (stage, the last progress, the turn, since
when); `describe` turns them into one short sentence at each write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: what a job does in each stage when nothing more precise is known
STAGE_WORDS = {
    "claimed": "waiting for a worker",
    "session": "opening an editing session",
    "uploaded": "files uploaded; the editor is working",
    "edited": "asking for the render",
    "rendering": "waiting for the render",
    "downloading": "downloading the result",
    "delivered": "putting the originals away",
    "done": "done",
    "failed": "failed",
}
#: a progress report, by its `what`
PROGRESS_WORDS = {
    "upload": "uploading",
    "render": "waiting for the render",
    "download": "downloading the result",
}


@dataclass
class Facts:
    """What the board knows of one job."""

    stage: str
    since: float | None = None  # when it reached its stage (or was held)
    what: str = ""  # the last progress: upload, edit, render, download
    percent: float | None = None
    turn: int = 0
    turns: int = 0
    turn_since: float | None = None
    waiting: str = ""  # the job's own transient fault: it tries again by itself
    held: str | None = None  # the reason of the condition that holds it


def describe(facts: Facts, now: float | None = None) -> str:
    """One sentence for a person, with how long (or since when)."""
    now = time.time() if now is None else now
    if facts.held:
        known = " since " in facts.held  # "waiting for the network since 14:02"
        when = f" since {clock(facts.since)}" if facts.since and not known else ""
        return f"held: {facts.held}{when}"
    if facts.waiting:
        return facts.waiting
    if facts.what == "edit" and facts.turns:
        began = facts.turn_since or facts.since
        return f"turn {facts.turn} of {facts.turns}: the editor is working{_for(began, now)}"
    if facts.what in PROGRESS_WORDS and facts.percent is not None:
        return f"{PROGRESS_WORDS[facts.what]}, {facts.percent:.0f} %"
    return f"{STAGE_WORDS.get(facts.stage, facts.stage)}{_for(facts.since, now)}"


def clock(at: float) -> str:
    """A time of today as a person reads it: 14:02."""
    return time.strftime("%H:%M", time.localtime(at))


def duration(seconds: float) -> str:
    """Short and readable: 42 s, 12 min, 3 h 05."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d}"


def _for(since: float | None, now: float) -> str:
    return f", {duration(now - since)}" if since else ""
