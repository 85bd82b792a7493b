"""What the history database holds: its schema, its migrations, and the rows made from events.

Plain SQL and numbered migrations (`PRAGMA user_version`), no ORM: a database
written by an older nemowatch is brought up to date step by step when it is
opened for writing. `history.py` owns the connection; this module says what
goes in it, what comes out (`Entry`), and what a database error means.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from nemowatch.doctor_checks import mount_of, read_mounts, watchable
from nemowatch.jobs import events
from nemowatch.jobs.model import Job
from nemowatch.redact import redact

T = TypeVar("T")

#: the longest text kept for one event
EVENT_TEXT_MAX = 300

#: each migration is the statements that bring the database from version N to N + 1
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            preset TEXT,
            media TEXT NOT NULL DEFAULT '[]',        -- JSON [{name, size, sha256}]
            instructions TEXT NOT NULL DEFAULT '[]', -- JSON: the turns' texts
            session_id TEXT,
            render_id TEXT,
            stages TEXT NOT NULL DEFAULT '{}',       -- JSON {stage: when reached}
            turns TEXT NOT NULL DEFAULT '[]',        -- JSON [{text, answer, verified}]
            credits_before REAL,
            credits_after REAL,
            outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed', 'cancelled')),
            result TEXT,
            report TEXT,
            reason TEXT,
            code INTEGER,
            stage TEXT,                              -- where it failed or was cancelled
            refines TEXT,                            -- the id of the job it refined
            started REAL NOT NULL,
            ended REAL NOT NULL
        )""",
        "CREATE INDEX jobs_by_end ON jobs (ended)",
        "CREATE INDEX jobs_by_name ON jobs (name, ended)",
        """CREATE TABLE events (
            job_id TEXT NOT NULL,
            type TEXT NOT NULL,
            at REAL NOT NULL,
            text TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX events_by_job ON events (job_id, at)",
        "CREATE INDEX events_by_time ON events (at)",
    ),
    (
        # what a refinement needs of the result it refines, and a cost's accuracy
        "ALTER TABLE jobs ADD COLUMN task_id TEXT",
        "ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE jobs ADD COLUMN cost_approximate INTEGER NOT NULL DEFAULT 0",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

JOB_COLUMNS = (
    "id name kind preset media instructions session_id render_id stages turns credits_before "
    "credits_after outcome result report reason code stage refines started ended task_id version "
    "cost_approximate"
).split()
UPSERT_JOB = (
    f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in JOB_COLUMNS)}) "
    f"ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in JOB_COLUMNS if c != "id")
)
INSERT_EVENT = "INSERT INTO events (job_id, type, at, text) VALUES (?, ?, ?, ?)"

EventRow = tuple[str, str, float, str]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the database lacks, in one transaction; its version after.

    A database from a newer nemowatch is left as it is: its migrations only add.
    """
    conn.execute("BEGIN IMMEDIATE")  # two processes opening at once migrate once
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        for number, steps in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in steps:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return max(version, SCHEMA_VERSION)


def journal_mode_for(fstype: str | None) -> str:
    """WAL on local disks; a rollback journal where WAL's shared memory cannot work:
    network filesystems and FUSE mounts that are not a local disk (an unknown type
    is taken as local, as most are)."""
    return "WAL" if fstype is None or watchable(fstype) else "DELETE"


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem holding `path` (or its nearest existing parent)."""
    mounts = read_mounts(_read_text)
    if not mounts:
        return None
    here = path
    while not here.exists() and here != here.parent:
        here = here.parent
    mount = mount_of(Path(os.path.realpath(here)), mounts)
    return mount.fstype if mount else None


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _extra(job: Job, name: str) -> Any:
    """A field a later journal format carries (the preset, credits, refinements, checksums):
    read when present, so the history fills in as the journal grows."""
    return getattr(job, name, None)


def job_row(event: events.JobEvent) -> dict[str, Any] | None:
    """The `jobs` row of an event that ends a job; None for any other event, and for a
    job whose files went back to the inbox (it is claimed again: not an ending)."""
    job = event.record
    if job is None or not isinstance(event, events.Delivered | events.Failed | events.Cancelled):
        return None
    if isinstance(event, events.Cancelled) and job.put_back:
        return None
    reason = result = report = stage = None
    code = job.failure.code if job.failure else None
    if isinstance(event, events.Delivered):
        result, report = event.result or job.result, event.report or job.report
    elif isinstance(event, events.Failed):
        reason = event.message or (job.failure.message if job.failure else "")
        code, stage = event.code if event.code is not None else code, event.stage
    elif isinstance(event, events.Cancelled):
        reason = job.failure.message if job.failure else f"cancelled at {event.stage}"
        stage = event.stage
    checksums = _extra(job, "media_sha256") or {}
    media = [
        {
            "name": Path(m).name,
            "size": job.media_stat[m][0] if m in job.media_stat else None,
            "sha256": checksums.get(m),
        }
        for m in job.media
    ]
    turns = [
        {"text": t.text, "answer": redact(t.answer), "verified": t.verified} for t in job.turns
    ]
    return {
        "id": job.id,
        "name": job.name,
        "kind": job.kind,
        "preset": _extra(job, "preset"),
        "media": json.dumps(media),
        "instructions": json.dumps([t.text for t in job.turns]),
        "session_id": job.session_id,
        "render_id": job.render_id,
        "stages": json.dumps(job.reached),
        "turns": json.dumps(turns),
        "credits_before": _extra(job, "credits_before"),
        "credits_after": _extra(job, "credits_after"),
        "outcome": _OUTCOMES[type(event)],
        "result": result,
        "report": report,
        "reason": redact(reason) if reason is not None else None,
        "code": code,
        "stage": stage,
        "refines": _extra(job, "refines"),
        "started": job.created_at,
        "ended": event.at,
        "task_id": job.task_id,
        "version": job.result_version,
        "cost_approximate": int(job.cost_approximate),
    }


_OUTCOMES: dict[type[events.JobEvent], str] = {
    events.Delivered: "delivered",
    events.Failed: "failed",
    events.Cancelled: "cancelled",
}


def event_row(event: events.JobEvent) -> EventRow | None:
    """The `events` row of a job event; None for progress (far too many to keep)."""
    if isinstance(event, events.Progress):
        return None
    text = redact(describe(event))
    if len(text) > EVENT_TEXT_MAX:
        text = text[: EVENT_TEXT_MAX - 1] + "…"
    return (event.job_id, type(event).__name__, event.at, text)


def describe(event: events.JobEvent) -> str:
    """A short text for the events table."""
    match event:
        case events.Claimed() | events.StageReached():
            return event.stage.value
        case events.TurnAnswered():
            how = " (verified in the project)" if event.verified else ""
            answer = f": {event.answer}" if event.answer else ""
            return f"turn {event.index + 1} of {event.count} answered{how}{answer}"
        case events.Held():
            return f"held at {event.stage.value}: {event.reason or event.condition}"
        case events.Waiting():
            return f"waiting at {event.stage.value}: {event.reason}" if event.reason else "resumed"
        case events.Released():
            return "back in line"
        case events.Delivered():
            return event.result
        case events.Failed():
            return f"failed at {event.stage}: {event.message}"
        case events.Cancelled():
            if event.record is not None and event.record.put_back:
                return "a file changed: its files went back into the inbox"
            return f"cancelled at {event.stage}"
        case events.Stopped():
            return "stopped for the daemon's shutdown"
    return ""


def iso(when: float) -> str:
    """A wall-clock time as ISO 8601 in local time, with its UTC offset."""
    return datetime.fromtimestamp(when, UTC).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Entry:
    """One finished job as the history holds it."""

    id: str
    name: str
    kind: str
    outcome: str  # delivered, failed, cancelled
    started: float
    ended: float
    result: str | None
    report: str | None
    reason: str | None
    code: int | None
    stage: str | None  # where it failed or was cancelled
    preset: str | None
    media: list[dict[str, Any]]
    instructions: list[str]
    session_id: str | None
    render_id: str | None
    stages: dict[str, float]
    turns: list[dict[str, Any]]
    credits_before: float | None
    credits_after: float | None
    refines: str | None
    task_id: str | None = None
    #: 1 for a job's own result; 2, 3, ... for its refinements (`NAME v2.mp4`)
    version: int = 1
    #: other jobs' turns ran meanwhile: `credits` is approximate
    cost_approximate: bool = False

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        known = cls.__dataclass_fields__  # a newer nemowatch may have added columns
        fields = {key: value for key, value in dict(row).items() if key in known}
        for name in ("media", "instructions", "stages", "turns"):
            fields[name] = json.loads(fields[name])
        if "cost_approximate" in fields:
            fields["cost_approximate"] = bool(fields["cost_approximate"])
        return cls(**fields)

    @property
    def credits(self) -> float | None:
        """Credits the job spent, when both balances are known."""
        if self.credits_before is None or self.credits_after is None:
            return None
        return self.credits_before - self.credits_after

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    def to_json(self) -> dict[str, Any]:
        """The job as `history --json` and the API give it (times in ISO 8601)."""
        data = asdict(self)
        data.update(
            started=iso(self.started),
            ended=iso(self.ended),
            stages={stage: iso(at) for stage, at in self.stages.items()},
            credits=self.credits,
        )
        return data


_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_DISK = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CANTOPEN,
}


def trouble(exc: BaseException) -> Literal["damaged", "disk", "other"]:
    """What a failed database call means: a damaged file, a disk that refuses, or else."""
    if isinstance(exc, OSError):
        return "disk"
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF  # extended codes carry the primary one in their low byte
        if primary in _DAMAGED:
            return "damaged"
        if primary in _DISK:
            return "disk"
    text = str(exc)
    if "malformed" in text or "not a database" in text:
        return "damaged"
    return "disk" if "disk is full" in text or "readonly" in text else "other"


def transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    """`work` in one write transaction (taken at once, so the busy timeout applies)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = work()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return done
