"""The job history: `<state>/history.sqlite3`, one row per finished job and the job events.

Written by the daemon (a subscriber of the job events) and by `submit`; read by
`nemowatch history`, the web page and the daily summary. Both writers share
the file through SQLite's own locking (a busy timeout). The history never
stops a job, since the journals remain the truth about running jobs:

- a damaged database is moved aside (with its `-wal` and `-shm`) and a new
  one is started, with a warning in the log;
- a write refused for want of space or permission is reported through
  `on_disk_error` (the daemon raises the condition "disk"), and its rows wait
  in memory, a few hundred at most, for the next write that goes through;
- nothing is raised into the event bus or the pipeline: what fails is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from nemowatch.history_cost import CostQueries, note_start
from nemowatch.history_schema import (
    INSERT_EVENT,
    UPSERT_JOB,
    Entry,
    EventRow,
    event_row,
    filesystem_type,
    job_row,
    journal_mode_for,
    migrate,
    transaction,
    trouble,
)
from nemowatch.history_workflow import WorkflowQueries
from nemowatch.jobs.events import EventBus, Feed, JobEvent, Progress

log = logging.getLogger("nemowatch")

T = TypeVar("T")

HISTORY_FILE = "history.sqlite3"
#: rows kept in memory while the disk refuses them
PENDING_MAX = 300
#: how long the rows of an event wait for more, to go in one write with them
WRITE_DELAY = 0.2
#: how long a write waits for the other writer (the daemon or `submit`)
BUSY_TIMEOUT = 10.0
DAY = 24 * 3600

#: called with the database's path and the error when the disk refuses a write
DiskErrorHandler = Callable[[Path, BaseException], None]


class History(CostQueries, WorkflowQueries):
    """The history database; a connection opened at first use, shared by threads under a lock.

    Args:
        path: the database file (see `in_state`).
        on_disk_error: called with `path` and the error when the disk refuses a write
            (full, read-only, over quota); the rows wait in memory meanwhile.
        read_only: only read an existing database (the `history` command): nothing is
            created, migrated or moved aside; errors are raised.
        clock: the wall clock, for `prune` and `since_days`.
    """

    def __init__(
        self,
        path: Path,
        *,
        on_disk_error: DiskErrorHandler | None = None,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._on_disk_error = on_disk_error
        self._read_only = read_only
        self._clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._broken: sqlite3.Connection | None = None
        self._version = 0
        self._pending_jobs: dict[str, dict[str, Any]] = {}
        self._pending_events: deque[EventRow] = deque()
        self._failing = False
        self._closed = False
        self._writer: asyncio.Future[None] | None = None  # the write in flight
        self._hurry = asyncio.Event()  # set: write without waiting for more rows
        self._feed: Feed | None = None  # the job events it is handed (`follow`)

    @classmethod
    def in_state(cls, state_dir: Path, on_disk_error: DiskErrorHandler | None = None) -> History:
        """The history of this state folder, to write to (the daemon, `submit`)."""
        return cls(state_dir / HISTORY_FILE, on_disk_error=on_disk_error)

    @classmethod
    def existing(cls, state_dir: Path) -> History | None:
        """The history of this state folder to read, or None when there is none yet."""
        path = state_dir / HISTORY_FILE
        return cls(path, read_only=True) if path.is_file() else None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; a write after this (an event still being delivered while
        the daemon stops) opens one for itself and closes it again."""
        with self._lock:
            self._closed = True
            self._disconnect()

    def _disconnect(self) -> None:
        for conn in (self._conn, self._broken):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._conn = self._broken = None

    @property
    def pending(self) -> int:
        """How many rows wait in memory for the disk."""
        return len(self._pending_jobs) + len(self._pending_events)

    # -- writing ------------------------------------------------------------

    def follow(self, bus: EventBus) -> None:
        """Keep the rows of `bus`'s job events (not its progress)."""
        self._feed = bus.subscribe("history", self.handle, progress=False)

    async def handle(self, event: JobEvent) -> None:
        """An `EventBus` subscriber: rows kept at once, written off the loop one write at a
        time, each with all the rows of `WRITE_DELAY` (not a transaction per event)."""
        if isinstance(event, Progress) or not self._keep(event):
            return
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_kept())

    async def _write_kept(self) -> None:
        try:
            # the rows of the events that follow within WRITE_DELAY go in the same write
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), WRITE_DELAY)
            self._hurry.clear()
            while self.pending and await asyncio.to_thread(self.flush):
                pass  # stopped by a refusing disk: the rows wait for the next event or prune
        finally:
            self._writer = None

    async def settled(self) -> None:
        """Until the rows of the events emitted so far are written (or wait for the disk):
        what reads the history to decide (the budget, duplicates) or show it, first."""
        if self._feed is not None:
            await self._feed.caught_up()
        while self._writer is not None:
            self._hurry.set()
            await asyncio.shield(self._writer)

    def record(self, event: JobEvent) -> None:
        """Keep what `event` says (a job's row when it ends, an event line) and write it
        now; never raises."""
        if self._keep(event):
            self.flush()

    def _keep(self, event: JobEvent) -> bool:
        """Keep `event`'s rows in memory; whether it had any."""
        try:
            row, line = job_row(event), event_row(event)
            with self._lock:
                if row is not None:
                    self._pending_jobs.pop(row["id"], None)  # the newest row goes last
                    self._pending_jobs[row["id"]] = row
                if line is not None:
                    self._pending_events.append(line)
                self._bound_pending()
        except Exception:  # noqa: BLE001 - the history never stops a job or the bus
            log.exception("the history could not record %s of %s", type(event).__name__, event.name)
            return False
        return row is not None or line is not None

    def flush(self) -> bool:
        """Write the rows that wait in memory; True once none is left waiting."""
        with self._lock:
            return self._flush()

    def prune(self, keep_days: float) -> int:
        """Delete the jobs (and events) that ended over `keep_days` ago (0: keep all);
        the rows waiting in memory are written first. Returns how many jobs went."""
        self.flush()
        if keep_days <= 0:
            return 0
        cutoff = self._clock() - keep_days * DAY

        def delete(conn: sqlite3.Connection) -> int:
            def rows() -> int:
                conn.execute("DELETE FROM events WHERE at < ?", (cutoff,))
                return conn.execute("DELETE FROM jobs WHERE ended < ?", (cutoff,)).rowcount

            return transaction(conn, rows)

        try:
            with self._lock:
                removed = self._use(delete)
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return 0
        if removed:
            log.info("deleted %d job(s) from the history (over %g days)", removed, keep_days)
        return removed

    def _bound_pending(self) -> None:
        dropped = 0
        while len(self._pending_jobs) > PENDING_MAX:
            del self._pending_jobs[next(iter(self._pending_jobs))]
            dropped += 1
        while len(self._pending_events) > PENDING_MAX:
            self._pending_events.popleft()
            dropped += 1
        if dropped:
            log.warning("the history keeps %d rows at most in memory: the oldest went", PENDING_MAX)

    def _flush(self) -> bool:
        if not self.pending:
            return True
        jobs, lines = list(self._pending_jobs.values()), list(self._pending_events)

        def write(conn: sqlite3.Connection) -> None:
            def rows() -> None:
                conn.executemany(UPSERT_JOB, jobs)
                conn.executemany(INSERT_EVENT, lines)

            transaction(conn, rows)

        try:
            self._use(write)
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return False
        self._pending_jobs.clear()
        self._pending_events.clear()
        if self._failing:
            self._failing = False
            log.info("the history is written again (%d row(s) had waited)", len(jobs) + len(lines))
        return True

    def _failed(self, exc: BaseException) -> None:
        """Log (once per spell) and tell the daemon when the disk is at fault."""
        kind, first = trouble(exc), not self._failing
        self._failing = True
        if first:
            log.warning(
                "cannot write the history %s: %s; %d row(s) wait in memory",
                self.path,
                exc,
                self.pending,
            )
        if kind == "disk" and self._on_disk_error is not None:
            try:
                self._on_disk_error(self.path, exc)
            except Exception:  # noqa: BLE001 - the callback's bug must not stop a job
                log.exception("on_disk_error failed")

    # -- the connection -------------------------------------------------------

    def _use(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run `operation`; a damaged database is moved aside and it runs again on a new one."""
        with self._lock:
            try:
                try:
                    return operation(self._connection())
                except sqlite3.DatabaseError as exc:
                    if self._read_only or trouble(exc) != "damaged":
                        raise
                    self._move_aside(exc)
                return operation(self._connection())
            finally:
                if self._closed:
                    self._disconnect()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._read_only:
            target, uri = f"{self.path.absolute().as_uri()}?mode=ro", True
        else:
            target, uri = str(self.path), False
            fresh = not self.path.exists() or self.path.stat().st_size == 0
        conn = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False, uri=uri
        )
        conn.row_factory = sqlite3.Row
        try:
            if self._read_only:
                self._version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                return conn
            mode = journal_mode_for(filesystem_type(self.path))
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).upper() != mode:
                conn.execute(f"PRAGMA journal_mode = {mode}")
            if mode == "WAL":
                conn.execute("PRAGMA synchronous = NORMAL")  # durable but for a power cut
            self._version = migrate(conn)
            note_start(self.path, fresh, self._clock())  # a reset leaves today's spending unknown
        except BaseException as exc:
            if not self._read_only and trouble(exc) == "damaged":
                self._broken = conn  # closed once its files are moved aside (see there)
            else:
                conn.close()
            raise
        return conn

    def _move_aside(self, exc: BaseException) -> None:
        """Rename the damaged database and its companions, so that a new one starts.

        Renamed before the connection is closed: closing would delete the `-wal` and
        `-shm` files, which may hold what is left of the rows.
        """
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(self._clock()))
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        serial = 1
        while aside.exists():
            serial += 1
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{serial}")
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.rename(f"{self.path}{suffix}", f"{aside}{suffix}")
        self._disconnect()
        log.warning(
            "the history database %s is damaged (%s): moved aside as %s; a new one is started",
            self.path,
            exc,
            aside.name,
        )

    # -- reading ------------------------------------------------------------

    def _select(self, sql: str, args: Iterable[object] = ()) -> list[sqlite3.Row]:
        def run(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            if self._version < 1:  # an empty database opened only to read it
                return []
            return list(conn.execute(sql, tuple(args)))

        return self._use(run)

    def jobs(
        self,
        failed_only: bool = False,
        since_days: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        search: str | None = None,
    ) -> list[Entry]:
        """Finished jobs, newest first.

        Args:
            failed_only: only the failed ones.
            since_days: only those that ended in the last so many days.
            limit, offset: a page of the answer.
            search: words found in the name, the instructions, the result or the reason.

        Raises:
            sqlite3.Error: the database cannot be read (only when opened read-only).
        """
        where: list[str] = []
        args: list[object] = []
        if failed_only:
            where.append("outcome = 'failed'")
        if since_days is not None:
            where.append("ended >= ?")
            args.append(self._clock() - since_days * DAY)
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            columns = ("name", "instructions", "result", "reason")
            where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
            args += [pattern + "%"] * len(columns)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT * FROM jobs {clause} ORDER BY ended DESC, id DESC LIMIT ? OFFSET ?"
        rows = self._select(sql, [*args, -1 if limit is None else limit, offset])
        return [Entry.from_row(row) for row in rows]

    def job(self, id_or_name: str) -> Entry | None:
        """The job with this id, or else the latest job with this name."""
        rows = self._select(
            "SELECT * FROM jobs WHERE id = ? OR name = ? ORDER BY id = ? DESC, ended DESC LIMIT 1",
            (id_or_name, id_or_name, id_or_name),
        )
        return Entry.from_row(rows[0]) if rows else None
