"""The daemon: startup, main loop, shutdown, reload; the wiring of the parts.

Shaped like uvicorn's server: signal handlers only set an event; the main
loop reads "for each batch of inbox events: note, plan, claim"; a pool of
`jobs.max_parallel` workers runs the pipelines; and `shutdown()` lets running
steps reach a checkpoint within `jobs.stop_grace_seconds` before cancelling
what is left. A second signal forces the exit at once. Pipelines report job
events, fanned out by the bus; conditions live in one registry; `flock` locks
keep a second daemon off the same work and state folders.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch import prune, reload
from nemowatch.account import Account
from nemowatch.api import NemoClient
from nemowatch.board import StatusBoard
from nemowatch.conditions import Conditions
from nemowatch.config import Settings
from nemowatch.control import DaemonControl
from nemowatch.disk import DiskWatch
from nemowatch.intake import Intake
from nemowatch.jobs import events, reuse
from nemowatch.jobs.claim import resumable
from nemowatch.jobs.context import Context
from nemowatch.jobs.journal import JobFolder
from nemowatch.localapi import LocalApi
from nemowatch.lock import DaemonLocks
from nemowatch.outlets import Outlets
from nemowatch.scheduling import on_loop
from nemowatch.systemd import Notifier
from nemowatch.watch.batches import Batches
from nemowatch.watch.observer import WatchEvent
from nemowatch.workers import WorkerPool

log = logging.getLogger("nemowatch")

RESCAN, STOP, RELOAD = "rescan", "stop", "reload"
Event = WatchEvent | str


class Daemon:
    def __init__(
        self,
        settings: Settings,
        client: NemoClient,
        *,
        notifier: Notifier | None = None,
        reload: Callable[[], Settings] | None = None,
        runtime_dir: str | None = None,
    ) -> None:
        self.client = client
        self.notifier = notifier or Notifier(None)
        self._reload = reload
        folders = settings.folders
        self.should_exit = asyncio.Event()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.bus = events.EventBus()
        self.conditions = Conditions(on_change=lambda: self.board.mark())
        self.ctx = Context(
            client,
            settings,
            self.conditions,
            asyncio.Semaphore(settings.jobs.max_parallel_uploads),
            asyncio.Event(),
            emit=self.bus.emit,
        )
        self.pool = WorkerPool(self.ctx, lambda: self.settings.jobs.max_parallel)
        self.board = StatusBoard(
            folders.state_dir,
            self.conditions,
            self.notifier,
            self.pool.queue.qsize,
            next_probe=lambda: self.account.next_check(),
        )
        self.bus.subscribe("status board", self.board.handle)
        self.account = Account(client, self.conditions, lambda: self.settings.jobs, self._credits)
        self.scheduler = AsyncIOScheduler()
        self.ctx.disk = self.disk = DiskWatch(
            self.conditions, lambda: self.settings.folders, settings.watch.disk_check_seconds
        )
        self.intake = Intake(
            settings,
            self.conditions,
            self.disk,
            on_event=self.events.put_nowait,
            on_claimed=self._claimed,
            rescan=lambda: self.events.put_nowait(RESCAN),
        )
        self.ctx.folder_watch = self.intake.folders
        self._wake_at: float | None = None  # the inbox's next look (monotonic), if no event
        self.locks = DaemonLocks([folders.work_dir, folders.state_dir])
        self.outlets = Outlets(self.ctx, self.bus, self.scheduler, self.pool.queue.qsize, self.disk)
        control = DaemonControl(
            lambda: self.settings,
            self.conditions,
            self.pool,
            self.bus,
            snapshot=self.board.snapshot,
            waiting=lambda: self.board.waiting,
            adopt=lambda: self.events.put_nowait(RESCAN),  # retried jobs: taken now
            refresh_credits=self.account.refresh,
            history=self.outlets.history,
        )
        self.api = LocalApi(control, self.conditions, self.pool.queue.qsize, runtime_dir)

    @property
    def settings(self) -> Settings:
        """The settings in force (a reload replaces them in the shared context)."""
        return self.ctx.settings

    # -- lifecycle ----------------------------------------------------------

    async def serve(self) -> int:
        """Run until SIGTERM or SIGINT; 0 on a normal stop."""
        self.locks.acquire()  # before anything is written: a second daemon leaves no trace
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.events.put_nowait, RELOAD)
        try:
            await self.startup()
            await self.main_loop()
        finally:
            await self.shutdown()
            self.locks.release()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0

    def request_stop(self) -> None:
        """First call: stop taking work and wind down; second call: cancel at once."""
        if self.should_exit.is_set():
            log.warning("second stop request: cancelling running steps now")
            self.pool.cancel()
            return
        log.info("stopping: no new jobs; running steps finish at their next checkpoint")
        self.should_exit.set()
        self.events.put_nowait(STOP)

    async def startup(self) -> None:
        folders = self.settings.folders
        dirs = (folders.inbox, folders.outbox, folders.failed, folders.work_dir, folders.state_dir)
        for path in dirs:
            path.mkdir(parents=True, exist_ok=True)
        reuse.clear(folders.work_dir)  # what a crash left half-taken
        self.bus.start()
        self._adopt_journals()
        await self.api.start(folders.state_dir)  # a pause from before the restart holds
        self.intake.start(asyncio.get_running_loop())
        self._plan_and_claim()
        self.pool.resize()
        jobs, rescan = self.settings.jobs, self.settings.watch.rescan_seconds
        add = self.scheduler.add_job
        add(on_loop(self.events.put_nowait), "interval", [RESCAN], seconds=rescan, id="rescan")
        every = self.settings.watch.folder_check_seconds
        add(on_loop(self.intake.folders.check), "interval", seconds=every, id="folders")
        # a heartbeat for updated_at; changes are written by the board within a second
        add(on_loop(self.board.write), "interval", seconds=30, args=[True], id="status")
        self.account.schedule(self.scheduler, jobs.credit_check_minutes * 60)
        prune.schedule(self.scheduler, lambda: self.settings)  # old archives and failures
        self.scheduler.start()
        self.board.write(force=True)
        self.notifier.ready()
        self.outlets.start()
        queued = self.pool.queue.qsize()
        log.info(
            "watching %s (outbox %s); %d job(s) resumed", folders.inbox, folders.outbox, queued
        )

    async def main_loop(self) -> None:
        async for batch in Batches(self.events, self._deadline):
            self.notifier.ping_if_due(time.monotonic())
            if STOP in batch or self.should_exit.is_set():
                return
            for event in batch:
                self._note(event)
            self._plan_and_claim()

    def _deadline(self) -> float | None:
        """When the inbox needs another look or the watchdog a ping, whichever is first."""
        now = time.monotonic()
        ping = self.notifier.watchdog_due_in(now)
        waits = [w for w in (self._wake_at, None if ping is None else now + ping) if w is not None]
        return min(waits) if waits else None

    async def shutdown(self) -> None:
        self.notifier.stopping()
        grace = self.settings.jobs.stop_grace_seconds
        await self.api.stop(grace)  # no orders while the workers wind down
        self.intake.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.ctx.stopping.set()
        await self.pool.stop(grace)
        await self.disk.stop()
        await self.bus.stop()  # the last events reach the history and notifications
        await self.outlets.stop(grace)
        self.board.write(force=True, stopped=True)
        log.info("stopped")

    # -- inbox --------------------------------------------------------------

    def _note(self, event: Event) -> None:
        if event == RELOAD:  # SIGHUP
            reload.reconfigure(self._reload, self.notifier, self._apply)
        elif event == RESCAN:
            self.locks.check()
            self.intake.rescan()
            self._adopt_journals()  # put back by `nemowatch retry`
            if not self.pool.present:  # nothing runs: the folders put aside in a burst go
                reuse.trim(self.settings.folders.work_dir)
        elif isinstance(event, WatchEvent):
            self.intake.note(event)

    def _plan_and_claim(self) -> None:
        waiting, self._wake_at = self.intake.plan_and_claim(self.should_exit.is_set)
        self.board.set_waiting(waiting)
        self.outlets.waiting(waiting)

    def _claimed(self, folder: JobFolder, name: str) -> None:
        self.pool.add(folder)
        self.bus.emit(events.Claimed(folder.path.name, name))

    def _adopt_journals(self) -> None:
        """Queue each unfinished job of the work folder that the pool does not have yet."""
        for folder in resumable(self.settings.folders.work_dir, self.pool.present, self.pool.tidy):
            self.pool.add(folder)

    # -- reload and the account -----------------------------------------------

    def _credits(self, balance: float) -> None:
        self.board.set_credits(balance)
        self.outlets.credits_read(balance)

    def _apply(self, new: Settings) -> None:
        reload.apply(new, self.ctx, self.client, self.scheduler, self.intake.reconfigure)
        self.account.schedule(self.scheduler, self.settings.jobs.credit_check_minutes * 60)
        self.pool.resize()
