"""The daemon: startup, main loop, shutdown; workers, the pause gate, the scheduler.

Shaped like uvicorn's server: signal handlers only set an event, the main loop
turns inbox events into claimed jobs, `jobs.max_parallel` workers run the
pipelines, and `shutdown()` lets running steps reach a checkpoint within
`jobs.stop_grace_seconds` before cancelling what is left. A second signal
forces the exit at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch import status
from nemowatch.api import NemoClient
from nemowatch.config import Settings
from nemowatch.errors import ApiError, ConfigError, OutOfCreditsError
from nemowatch.jobs import finish
from nemowatch.jobs.claim import ClaimRequest, claim, resume_claim
from nemowatch.jobs.gate import PauseGate
from nemowatch.jobs.journal import JobFolder, existing_jobs
from nemowatch.jobs.model import Job, JobStage
from nemowatch.jobs.pipeline import Context, Outcome, Pipeline
from nemowatch.notify import Notifier
from nemowatch.watch.inbox import Inbox
from nemowatch.watch.observer import InboxWatcher, WatchEvent
from nemowatch.watch.rules import Waiting

log = logging.getLogger("nemowatch")
T = TypeVar("T")

RESCAN, STOP, RELOAD = "rescan", "stop", "reload"
#: the shortest time between two plans that events asked for (see `Daemon._plan_later`)
PLAN_GAP = 0.1
#: settings a reload cannot change: they shape what was built at start-up
RESTART_ONLY = (
    ("folders", None),
    ("api", "base_url"),
    ("api", "client_id"),
    ("api", "client_id_file"),
    ("watch", "polling"),
)
Event = WatchEvent | str


class Daemon:
    def __init__(
        self,
        settings: Settings,
        client: NemoClient,
        *,
        notifier: Notifier | None = None,
        reload: Callable[[], Settings] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.notifier = notifier or Notifier(None)
        self._reload = reload
        folders = settings.folders
        self.gate = PauseGate()
        self.should_exit = asyncio.Event()
        self.stopping = asyncio.Event()
        self.queue: asyncio.Queue[JobFolder] = asyncio.Queue()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.inbox = Inbox(
            folders.inbox,
            folders.work_dir,
            settings.watch,
            time.monotonic,
            skip=(folders.outbox, folders.failed),
        )
        self.watcher = InboxWatcher(
            folders.inbox,
            polling=settings.watch.polling,
            on_event=self.events.put_nowait,
            work_dir=folders.work_dir,
        )
        self.scheduler = AsyncIOScheduler()
        self.ctx = Context(
            client,
            settings,
            self.gate,
            asyncio.Semaphore(settings.jobs.max_parallel_uploads),
            self.stopping,
            events=self,
        )
        self.started_at = time.time()
        self.known: set[str] = set()
        self.active: dict[str, status.JobLine] = {}
        #: jobs held by an account condition, waiting for the gate to open
        self.held: dict[str, status.JobLine] = {}
        self.waiting: list[Waiting] = []
        self.credits: float | None = None
        self.finished: list[tuple[Job, Outcome]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        #: when the inbox needs its next look (time.monotonic), and when it had its last
        self._wake_at: float | None = None
        self._planned_at = -PLAN_GAP
        self._dirty = True
        self._status_pending = False

    # -- lifecycle ----------------------------------------------------------

    async def serve(self) -> int:
        """Run until SIGTERM or SIGINT; 0 on a normal stop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.events.put_nowait, RELOAD)
        try:
            await self.startup()
            await self.main_loop()
        finally:
            await self.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0

    def request_stop(self) -> None:
        """First call: stop taking work and wind down; second call: cancel at once."""
        if self.should_exit.is_set():
            log.warning("second stop request: cancelling running steps now")
            for task in self._workers:
                task.cancel()
            return
        log.info("stopping: no new jobs; running steps finish at their next checkpoint")
        self.should_exit.set()
        self.events.put_nowait(STOP)

    async def startup(self) -> None:
        folders = self.settings.folders
        for path in (folders.inbox, folders.outbox, folders.failed, folders.work_dir):
            path.mkdir(parents=True, exist_ok=True)
        folders.state_dir.mkdir(parents=True, exist_ok=True)
        for folder in existing_jobs(folders.work_dir):
            self._adopt(folder)
        self.watcher.start(asyncio.get_running_loop())
        self.inbox.scan()
        self._plan_and_claim()
        self._start_workers()
        self.scheduler.add_job(
            self.events.put_nowait,
            "interval",
            args=[RESCAN],
            seconds=self.settings.watch.rescan_seconds,
            id="rescan",
        )
        # a heartbeat for updated_at; changes are written by _mark() within a second
        self.scheduler.add_job(self._write_status, "interval", seconds=30, args=[True], id="status")
        self.scheduler.add_job(
            self._check_account,
            "interval",
            seconds=self.settings.jobs.credit_check_minutes * 60,
            id="account",
        )
        self.scheduler.start()
        self._write_status(force=True)
        self.notifier.ready()
        log.info(
            "watching %s (outbox %s, failed %s); %d job(s) resumed",
            folders.inbox,
            folders.outbox,
            folders.failed,
            self.queue.qsize(),
        )

    async def main_loop(self) -> None:
        while not self.should_exit.is_set():
            self.notifier.ping_if_due(time.monotonic())
            try:
                event: Event | None = await asyncio.wait_for(self.events.get(), self._timeout())
            except TimeoutError:
                event = None
            woken_by_event = event is not None
            while event is not None:
                if event == STOP:
                    return
                self._handle(event)
                event = None if self.events.empty() else self.events.get_nowait()
            if woken_by_event and self._plan_later(time.monotonic()):
                continue
            self._plan_and_claim()

    def _plan_later(self, now: float) -> bool:
        """Whether to hold an event's plan back: one plan per `PLAN_GAP` during a burst.

        Each plan walks the whole inbox, and watchdog hands events over one at a
        time: copying 1,000 pairs in would otherwise plan thousands of times. A
        job that an event makes ready waits at most `PLAN_GAP` more (the settle
        wait is seconds), and a plan that is due by the clock is never held back.
        """
        due = self._planned_at + PLAN_GAP
        if now >= due or (self._wake_at is not None and now >= self._wake_at):
            return False
        self._wake_at = due if self._wake_at is None else min(self._wake_at, due)
        return True

    def _timeout(self) -> float | None:
        """Until the inbox needs another look or the watchdog a ping, whichever is first."""
        now = time.monotonic()
        ping = self.notifier.watchdog_due_in(now)
        wake = None if self._wake_at is None else max(0.0, self._wake_at - now)
        waits = [w for w in (wake, ping) if w is not None]
        return min(waits) if waits else None

    async def shutdown(self) -> None:
        self.notifier.stopping()
        self.watcher.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.stopping.set()
        grace = self.settings.jobs.stop_grace_seconds
        if self._workers:
            _, late = await asyncio.wait(self._workers, timeout=grace)
            if late:
                log.warning("%d job step(s) still running after %g s: cancelled", len(late), grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        for task in list(self._side_tasks):
            task.cancel()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        self._write_status(force=True, stopped=True)
        log.info("stopped")

    # -- inbox --------------------------------------------------------------

    def _handle(self, event: Event) -> None:
        if event == RELOAD:
            self._reconfigure()
        elif event == RESCAN:
            self.inbox.scan()
            for folder in existing_jobs(self.settings.folders.work_dir):
                if folder.path.name not in self.known:
                    self._adopt(folder)  # put back by `nemowatch retry`
        elif isinstance(event, WatchEvent):
            self.inbox.note(event.path, closed=event.closed)

    def _plan_and_claim(self) -> None:
        plan = self.inbox.plan()
        if plan.waiting != self.waiting or plan.ready:
            self.waiting = plan.waiting
            self._mark()  # only on a change: an idle rescan of a big inbox writes nothing
        self._wake_at, self._planned_at = plan.wake_at, time.monotonic()
        for ready in plan.ready:
            if self.should_exit.is_set():
                break
            request = ClaimRequest(
                name=ready.name,
                kind=ready.kind,
                media=ready.media,
                instructions=ready.instructions,
                folder=ready.folder,
                default_instructions=ready.use_default_instructions,
                problem=ready.problem,
            )
            folder = claim(request, self.settings.folders.work_dir)
            self.inbox.forget([ready.folder] if ready.folder else ready.files)
            if folder is not None:
                self._enqueue(folder)

    def _adopt(self, folder: JobFolder) -> None:
        try:
            job = folder.load()
        except (OSError, ValueError) as exc:
            log.error("cannot read the journal of %s (%s); left as it is", folder.path, exc)
            self.known.add(folder.path.name)
            return
        self.known.add(job.id)
        if job.stage in (JobStage.DONE, JobStage.FAILED) or not resume_claim(folder, job):
            return
        log.info("%s: resuming at stage %s", job.name, job.stage.value)
        self._enqueue(folder)

    def _enqueue(self, folder: JobFolder) -> None:
        self.known.add(folder.path.name)
        self.queue.put_nowait(folder)

    # -- workers ------------------------------------------------------------

    async def _unless_stopping(self, awaitable: Awaitable[T]) -> T | None:
        """Await `awaitable`, or give up (None) when the daemon starts stopping."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            stop.cancel()
            return task.result()
        task.cancel()
        return None

    def _start_workers(self) -> None:
        """Bring the number of workers up to jobs.max_parallel (extra ones retire)."""
        self._workers = [t for t in self._workers if not t.done()]
        for index in range(len(self._workers), self.settings.jobs.max_parallel):
            self._workers.append(asyncio.create_task(self._worker(index), name=f"worker-{index}"))

    async def _worker(self, index: int) -> None:
        while not self.stopping.is_set() and index < self.settings.jobs.max_parallel:
            if self.gate.paused:
                await self._unless_stopping(self.gate.wait_open())
                continue
            folder = await self._unless_stopping(self.queue.get())
            if folder is None:
                return
            await self._run_job(folder)

    async def _run_job(self, folder: JobFolder) -> None:
        try:
            job = folder.load()
        except (OSError, ValueError) as exc:
            log.error("cannot read the journal of %s: %s", folder.path, exc)
            return
        if job.stage in (JobStage.DONE, JobStage.FAILED):
            return
        self.active[job.id] = status.JobLine(job.id, job.name, job.stage.value)
        try:
            with folder.log_kept_open():
                try:
                    outcome = await Pipeline(folder, job, self.ctx).run()
                except Exception as exc:  # noqa: BLE001 - one job's bug must not stop a worker
                    log.exception("%s: unexpected error", job.name)
                    outcome = self._fail_unexpected(folder, job, exc)
        finally:
            self.active.pop(job.id, None)
            self._mark()
        if outcome is Outcome.HELD:
            self.held[job.id] = status.JobLine(job.id, job.name, job.stage.value, held=job.held)
            self._side(self._requeue_when_open(folder, job.id))
        elif outcome in (Outcome.DONE, Outcome.FAILED):
            self.finished.append((job, outcome))

    def _fail_unexpected(self, folder: JobFolder, job: Job, exc: Exception) -> Outcome:
        """Send the job to the failed folder with its log; if even that fails, leave it."""
        try:
            finish.fail(folder, job, exc, self.settings, submit=False)
        except OSError as again:
            log.error(
                "%s: could not move it to the failed folder (%s); left in %s",
                job.name,
                again,
                folder.path,
            )
        return Outcome.FAILED

    async def _requeue_when_open(self, folder: JobFolder, job_id: str) -> None:
        await self.gate.wait_open()
        self.held.pop(job_id, None)
        self.queue.put_nowait(folder)

    def _side(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- reload ------------------------------------------------------------------

    def _reconfigure(self) -> None:
        """SIGHUP: read the configuration again; apply what can change while running."""
        if self._reload is None:
            return
        self.notifier.reloading()
        try:
            new = self._reload()
        except ConfigError as exc:
            log.error("reload rejected, the old configuration stays in force: %s", exc)
        else:
            self._apply(new)
        finally:
            self.notifier.ready()

    def _apply(self, new: Settings) -> None:
        old = self.settings
        data = new.model_dump()
        kept = []
        for section, key in RESTART_ONLY:
            before, after = _value(old, section, key), _value(new, section, key)
            if before != after:
                kept.append(f"{section}.{key}" if key else section)
                if key:
                    data[section][key] = before
                else:
                    data[section] = old.model_dump()[section]
        merged = Settings.model_validate(data)
        if kept:
            log.warning(
                "reload: %s changed; that takes a restart (kept as before)", ", ".join(kept)
            )
        self.settings = self.ctx.settings = merged
        self.inbox.reconfigure(merged.watch)
        self.client.reconfigure(merged.api, merged.export)
        self.ctx.uploads = asyncio.Semaphore(merged.jobs.max_parallel_uploads)
        logging.getLogger().setLevel(merged.logging.level)
        for job_id, seconds in (
            ("rescan", merged.watch.rescan_seconds),
            ("account", merged.jobs.credit_check_minutes * 60),
        ):
            self.scheduler.reschedule_job(job_id, trigger="interval", seconds=seconds)
        self._start_workers()
        log.info("configuration reloaded (%d job(s) at once)", merged.jobs.max_parallel)

    # -- account and status ---------------------------------------------------

    async def _check_account(self) -> None:
        """While paused, see whether the condition has passed; always refresh credits."""
        try:
            self.credits = (await self.client.credits()).available
        except ApiError as exc:
            log.warning("credit check failed: %s", exc)
            return
        if not self.gate.paused:
            return
        if self.gate.cause is OutOfCreditsError and self.credits < self.settings.jobs.min_credits:
            log.info("still out of credits (%g available)", self.credits)
            return
        self.gate.resume()  # plan and token conditions: held jobs try again

    def stage(self, job: Job) -> None:
        line = self.active.get(job.id)
        if line is not None:
            line.stage, line.held, line.progress = job.stage.value, job.held, ""
        self._mark()

    def progress(self, job: Job, what: str, done: float, total: float) -> None:
        line = self.active.get(job.id)
        if line is not None:
            line.progress = f"{what} {100 * done / total:.0f}%" if total else what
        self._mark()

    def _mark(self) -> None:
        """Something `status` shows changed: write the status file within a second."""
        self._dirty = True
        if not self._status_pending:
            self._status_pending = True
            asyncio.get_running_loop().call_later(1.0, self._flush_status)

    def _flush_status(self) -> None:
        self._status_pending = False
        self._write_status()

    def _write_status(self, force: bool = False, *, stopped: bool = False) -> None:
        if not (self._dirty or force):
            return
        self._dirty = False
        job = self.scheduler.get_job("account") if self.scheduler.running else None
        next_check = job.next_run_time.timestamp() if job and job.next_run_time else None
        snapshot = status.Snapshot(
            pid=os.getpid(),
            started_at=self.started_at,
            updated_at=time.time(),
            paused=self.gate.reason,
            next_check=next_check if self.gate.paused else None,
            credits=self.credits,
            queued=self.queue.qsize(),
            jobs=[*self.active.values(), *self.held.values()],
            waiting=[{"path": str(w.path), "reason": w.reason} for w in self.waiting],
            stopped=stopped,
        )
        try:
            status.write(self.settings.folders.state_dir, snapshot)
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)
        self.notifier.status(self._status_line(next_check))

    def _status_line(self, next_check: float | None) -> str:
        """What `systemctl status` shows: "2 running, 5 queued" or why it is paused."""
        if self.gate.paused:
            when = (
                time.strftime(", next check %H:%M", time.localtime(next_check))
                if next_check
                else ""
            )
            return f"paused: {self.gate.reason}{when}"
        return f"{len(self.active)} running, {self.queue.qsize()} queued"


def _value(settings: Settings, section: str, key: str | None) -> object:
    part = getattr(settings, section)
    return part if key is None else getattr(part, key)
