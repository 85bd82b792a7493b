"""The status file (`<state>/status.json`) and what `nemowatch status` prints.

The daemon rewrites the file while it runs; `status` reads it, asks the
daemon's lock whether a daemon runs, and falls back to the work folder's journals and
the failed folder, so it also tells the truth when the daemon is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nemowatch import lock
from nemowatch.config import Settings
from nemowatch.doing import clock
from nemowatch.errors import NemoError
from nemowatch.fsutil import rewrite
from nemowatch.jobs.claim import DAMAGED, damage
from nemowatch.jobs.journal import JobFolder, existing_jobs
from nemowatch.jobs.model import Job
from nemowatch.jobs.results import shown_entries
from nemowatch.lock import Holder
from nemowatch.presets import hot_folders, results_folder
from nemowatch.redact import redact

STATUS_FILE = "status.json"
#: the width `status` fits in
WIDTH = 80
#: the version of `status --json`'s format
SCHEMA = 1
#: where `nemowatch submit` keeps its jobs, under the state folder
SUBMIT_DIR = "submit"
#: held by the `submit` process running the job of its folder
SUBMIT_LOCK = "submit.lock"
#: reads of a journal before it is called damaged
JOURNAL_READS = 3


@dataclass
class JobLine:
    id: str
    name: str
    stage: str
    progress: str = ""
    held: str | None = None
    #: when the job reached its stage, or was held (wall clock)
    since: float | None = None
    #: what it is doing, in words ("turn 1 of 2: the editor is working, 40 s")
    doing: str = ""


@dataclass
class Snapshot:
    pid: int
    started_at: float
    updated_at: float
    paused: str | None = None
    next_check: float | None = None
    #: the active conditions: name, reason, since, next_check
    conditions: list[dict[str, object]] = field(default_factory=list)
    credits: float | None = None
    queued: int = 0
    jobs: list[JobLine] = field(default_factory=list)
    waiting: list[dict[str, str]] = field(default_factory=list)
    stopped: bool = False


def write(state_dir: Path, snapshot: Snapshot, waiting_text: str | None = None) -> None:
    """Replace the status file (atomic, not fsynced: it is rewritten while the daemon runs).

    Built by hand rather than with `asdict()`, which deep-copies the waiting list,
    and without indentation, which would take json's pure-Python encoder: with
    thousands of files waiting in the inbox both cost the idle daemon real CPU.
    `waiting_text`: the waiting list as `encode_waiting` made it, kept by a caller
    that writes the file again while the list stays the same (the heartbeat).
    """
    data = {**vars(snapshot), "jobs": [asdict(job) for job in snapshot.jobs]}
    if waiting_text is None:
        waiting_text = encode_waiting(snapshot.waiting)
    del data["waiting"]
    text = f'{redact(json.dumps(data))[:-1]}, "waiting": {waiting_text}}}'
    # the same two files each time (see `rewrite`): it is rewritten every second while jobs run
    try:
        rewrite(state_dir / STATUS_FILE, text.encode(), durable=False)
    except FileNotFoundError:  # the state folder was removed: made again
        state_dir.mkdir(parents=True, exist_ok=True)
        rewrite(state_dir / STATUS_FILE, text.encode(), durable=False)


def encode_waiting(waiting: list[dict[str, str]]) -> str:
    """The waiting list as the status file holds it (JSON, redacted)."""
    return redact(json.dumps(waiting))  # a file's name may quote a token


def read(state_dir: Path) -> dict[str, Any] | None:
    """The status file's last version (None: none, or unreadable); read again if torn: one
    opened just before two rewrites became the spare, written over in place (`rewrite`)."""
    data = None
    for _ in range(JOURNAL_READS):
        try:
            data = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
            break
        except ValueError:
            continue
        except OSError:
            return None
    return data if isinstance(data, dict) else None


def running_daemon(settings: Settings) -> lock.Holder | None:
    """The daemon holding this configuration's state or work folder, if one runs."""
    folders = settings.folders
    for folder in (folders.state_dir, folders.work_dir):
        holder = lock.holder(folder / lock.LOCK_FILE)
        if holder is not None:
            return holder
    return None


def recent_failures(failed_dir: Path, limit: int = 5) -> list[tuple[str, str]]:
    """(folder name, first line of error.txt), newest first; what cannot be read is left out."""
    found = []
    for path in shown_entries(failed_dir):
        try:
            found.append((os.stat(path / "error.txt").st_mtime, path))
        except OSError:
            continue  # not a failed job's folder, or gone meanwhile
    lines = []
    for _, path in sorted(found, reverse=True)[:limit]:
        try:
            with open(path / "error.txt", encoding="utf-8", errors="replace") as f:
                lines.append((path.name, f.readline().rstrip("\n")))
        except OSError:
            continue
    return lines


def _load(folder: JobFolder) -> Job:
    """A journal, read again if it did not parse: the daemon rewrites a journal in place
    (`fsutil.rewrite`), so a reader caught between two rewrites may read it short."""
    for _ in range(JOURNAL_READS - 1):
        with contextlib.suppress(ValueError, TypeError):
            return folder.load()
        time.sleep(0.02)
    return folder.load()


def journals(work_dir: Path) -> tuple[list[tuple[JobFolder, Job]], list[str]]:
    """The jobs of the work folder, and a "needs attention" line for each journal that
    cannot be read (the daemon moves those to the failed folder, with the reason)."""
    found, attention = [], []
    try:
        folders = existing_jobs(work_dir)
    except OSError as exc:
        return [], [f"needs attention: {work_dir}: cannot be read ({exc.strerror})"]
    for folder in folders:
        try:
            found.append((folder, _load(folder)))
        except FileNotFoundError:
            continue  # finished and put away since the listing
        except (*DAMAGED, NemoError) as exc:
            reason = damage(exc) if isinstance(exc, DAMAGED) else str(exc)
            attention.append(f"needs attention: {folder.journal}: {reason}")
    return found, attention


def render(settings: Settings) -> str:
    """The whole `nemowatch status` text."""
    folders = settings.folders
    data = read(folders.state_dir)
    # the lock says whether a daemon runs; the status file only what it last wrote
    holder = running_daemon(settings)
    lines = []
    if holder is not None and data and not data.get("stopped") and data.get("pid") == holder.pid:
        age = time.time() - float(data.get("updated_at", 0))
        lines.append(f"nemowatch is running ({holder}; status {age:.0f} s old)")
        for condition in data.get("conditions", []):
            lines.append(_condition_line(condition))
        if data.get("credits") is not None:
            lines.append(f"credits: {data['credits']:g}")
        jobs = data.get("jobs", [])
        lines.append(f"jobs: {len(jobs)} in progress, {data.get('queued', 0)} queued")
        for job in jobs:
            lines.append(f"  {job['name']}: {_doing(job)}")
        attention = journals(folders.work_dir)[1]  # left there: the daemon could not move it
        waiting = data.get("waiting", [])
    else:
        if holder is not None:
            lines.append(f"nemowatch is starting or stopping ({holder})")
        else:
            lines.append("nemowatch is not running")
        found, attention = journals(folders.work_dir)
        unfinished = [(f, j) for f, j in found if j.stage.value not in ("done", "failed")]
        lines.append(f"jobs waiting in {folders.work_dir}: {len(unfinished)}")
        # the reasons of the conditions in force when the daemon stopped
        reasons = {c.get("name"): c.get("reason") for c in (data or {}).get("conditions", [])}
        for _, job in unfinished:
            held = f" (held: {reasons.get(job.held) or job.held})" if job.held else ""
            lines.append(f"  {job.name}: {job.stage.value}{held}")
        waiting = (data or {}).get("waiting", [])
    lines += [f"  {line}" for line in attention]
    lines += hot_folder_lines(settings)
    if waiting:
        lines.append(f"waiting in the inbox: {len(waiting)}")
        lines += [f"  {w['path']}: {w['reason']}" for w in waiting[:50]]
    failures = recent_failures(folders.failed)
    if failures:
        lines.append("recent failures:")
        lines += [f"  {name}: {reason}" for name, reason in failures]
    lines += finished_lines(folders.state_dir)
    lines += submit_lines(folders.state_dir)
    return "\n".join(wrap(line) for line in lines)


def hot_folder_lines(settings: Settings) -> list[str]:
    """The presets' hot folders, and where their results go."""
    folders = hot_folders(settings)
    if not folders:
        return []
    lines = [f"hot folders: {len(folders)}"]
    for name, folder in folders.items():
        results = results_folder(settings, name)
        lines.append(f"  {name}: {folder}/ -> {results}/")
    return lines


def _condition_line(condition: dict[str, Any]) -> str:
    """PAUSED since 14:02: out of credits ... (next check 14:12)."""
    reason, since, check = (
        str(condition.get("reason")),
        condition.get("since"),
        condition.get("next_check"),
    )
    when = f" since {clock(since)}" if since and " since " not in reason else ""
    then = f" (next check {clock(check)})" if check else ""
    return f"PAUSED{when}: {reason}{then}"


def _doing(job: dict[str, Any]) -> str:
    """A live job's words; a status file from before `doing` existed gives its stage."""
    if job.get("doing"):
        return str(job["doing"])
    held = f" (held: {job['held']})" if job.get("held") else ""
    progress = f" {job['progress']}" if job.get("progress") else ""
    return f"{job['stage']}{progress}{held}"


def finished_lines(state_dir: Path, count: int = 5) -> list[str]:
    """The last finished jobs from the history (nothing when there is none yet)."""
    from nemowatch.history import History
    from nemowatch.history_view import outcome

    try:
        history = History.existing(state_dir)
        if history is None:
            return []
        with history:
            entries = history.jobs(limit=count)
    except (sqlite3.Error, OSError):
        return []  # `nemowatch history` says what is wrong with it
    if not entries:
        return []
    return ["last finished:"] + [
        f"  {clock(e.ended)} {e.name}: {outcome(e)}{_spent(e.credits, e.cost_approximate)}"
        for e in entries
        if e.ended
    ]


def _spent(credits: float | None, approximate: bool = False) -> str:
    """What a finished job cost, after its outcome (nothing when not known)."""
    if credits is None:
        return ""
    return f" (about {credits:g} credits)" if approximate else f" ({credits:g} credits)"


def wrap(line: str, width: int = WIDTH) -> str:
    """`line` wrapped within `width` columns, its continuation indented under it; a
    word longer than that (a link, a path) is kept whole."""
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip(" ")) + 4)
    return textwrap.fill(
        line,
        width,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def to_json(settings: Settings) -> dict[str, Any]:
    """What `nemowatch status --json` prints: the facts of `render()`, as data.

    The keys are those of the local API's `/api/status`. `running` comes from
    the lock; the rest from the status file while the daemon writes it, else
    from the journals. A job's `doing` is what it does or waits for, in words;
    `progress` the status line's own ("upload 40%"); `since` when it reached
    its stage (from its journal; null when unknown).
    """
    folders = settings.folders
    data = read(folders.state_dir) or {}
    holder = running_daemon(settings)
    live = holder is not None and not data.get("stopped") and data.get("pid") == holder.pid
    found, attention = journals(folders.work_dir)
    if live:
        journaled = {job.id: job for _, job in found}
        jobs = [
            _live_job(line, journaled.get(str(line.get("id")))) for line in data.get("jobs", [])
        ]
        keys = ("name", "reason", "since", "next_check")
        conditions = [{k: c.get(k) for k in keys} for c in data.get("conditions", [])]
    else:
        reasons = {c.get("name"): c.get("reason") for c in data.get("conditions", [])}
        jobs = [
            _journal_job(j, reasons) for _, j in found if j.stage.value not in ("done", "failed")
        ]
        conditions = []
    return {
        "schema": SCHEMA,
        "running": holder is not None,
        "pid": holder.pid if holder else None,
        "started": data.get("started_at") if live else None,
        "updated_at": data.get("updated_at") if live else None,
        "paused": data.get("paused") if live else None,
        "conditions": conditions,
        "credits": data.get("credits") if live else None,
        "queued": data.get("queued", 0) if live else 0,
        "jobs": jobs,
        "waiting": [{"path": w["path"], "reason": w["reason"]} for w in data.get("waiting", [])],
        "hot_folders": [
            {"preset": name, "folder": str(path), "results": str(results_folder(settings, name))}
            for name, path in hot_folders(settings).items()
        ],
        "attention": attention,
        "failures": [{"name": n, "reason": r} for n, r in recent_failures(folders.failed)],
        "submits": [
            {"id": j.id, "name": j.name, "stage": j.stage.value, "running": h is not None}
            for _, j, h in unfinished_submits(folders.state_dir)
        ],
    }


def _live_job(line: dict[str, Any], job: Job | None) -> dict[str, object]:
    """A job of the status file, shaped as the local API's `/api/status` shapes it."""
    held, progress = line.get("held"), line.get("progress") or ""
    since = line.get("since") or (job.reached.get(job.stage.value, job.created_at) if job else None)
    return {
        "id": line.get("id"),
        "name": line.get("name"),
        "stage": line.get("stage"),
        "doing": line.get("doing") or (f"held: {held}" if held else progress or line.get("stage")),
        "since": since,
        "progress": progress,
    }


def _journal_job(job: Job, reasons: dict[Any, Any]) -> dict[str, object]:
    """A job of the work folder while no daemon runs: held, or waiting for the daemon."""
    return {
        "id": job.id,
        "name": job.name,
        "stage": job.stage.value,
        "doing": f"held: {reasons.get(job.held) or job.held}" if job.held else job.stage.value,
        "since": job.reached.get(job.stage.value, job.created_at),
        "progress": "",
    }


def unfinished_submits(state_dir: Path) -> list[tuple[JobFolder, Job, Holder | None]]:
    """The `nemowatch submit` jobs left unfinished (interrupted, held, crashed), oldest
    first, each with the `submit` process running it now (None: `submit --resume` takes it)."""
    found, _ = journals(state_dir / SUBMIT_DIR)
    return [
        (folder, job, lock.holder(folder.path / SUBMIT_LOCK))
        for folder, job in found
        if job.stage.value not in ("done", "failed")
    ]


def submit_lines(state_dir: Path) -> list[str]:
    """`status`'s lines for the unfinished `submit` jobs (none: no lines)."""
    jobs = unfinished_submits(state_dir)
    if not jobs:
        return []
    lines = [f"submit jobs not finished: {len(jobs)} (nemowatch submit --resume ID)"]
    for _, job, holder in jobs:
        doing = f"running (pid {holder.pid})" if holder else job.stage.value
        lines.append(f"  {job.id}: {doing}")
    return lines
