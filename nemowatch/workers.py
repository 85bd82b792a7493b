"""The worker pool: `jobs.max_parallel` workers run pipelines from one queue.

A job held by a condition leaves its worker and waits, parked, until the
condition that holds its next step is released; then it goes back in line.
The pool knows only the jobs queued, running or parked now: nothing in it
grows for the life of the process. While the condition "network" holds jobs,
its `NetworkWatch` probes the service and releases them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nemowatch.errors import FileChangedError, NemoError
from nemowatch.jobs import events, finish
from nemowatch.jobs.context import Context, Outcome, needs
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage
from nemowatch.jobs.pipeline import Pipeline
from nemowatch.network import NETWORK, NetworkWatch, give_up_in

log = logging.getLogger("nemowatch")
T = TypeVar("T")


class WorkerPool:
    """Runs the queued jobs, `size()` at a time, until `stopping` is set.

    Args:
        ctx: what every pipeline shares (its `stopping` event ends the workers).
        size: how many workers there should be (read again by `resize()`).
    """

    def __init__(self, ctx: Context, size: Callable[[], int]) -> None:
        self.ctx = ctx
        self._size = size
        self.queue: asyncio.Queue[JobFolder] = asyncio.Queue()
        #: work-folder names of the jobs queued, running or parked
        self.present: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        #: held jobs waiting for a condition's release, by work-folder name
        self._parked: dict[str, asyncio.Task[None]] = {}
        #: probes the service while the condition "network" holds the jobs
        self.network = NetworkWatch(ctx.client, ctx.conditions, ctx.stopping)

    @property
    def running(self) -> int:
        return len(self.present) - self.queue.qsize() - len(self._parked)

    def add(self, folder: JobFolder) -> bool:
        """Queue a job folder unless it is already queued, running or parked."""
        if folder.path.name in self.present:
            return False
        self.present.add(folder.path.name)
        self.queue.put_nowait(folder)
        return True

    def request_cancel(self, name: str) -> bool:
        """Cancel the job of work folder `name` at its next checkpoint; False: not here.

        A running job stops after its current step (a turn being answered is
        answered first); a queued one at its start; a held one at once.
        """
        if name not in self.present:
            return False
        self.ctx.cancel_requests.add(name)
        parked = self._parked.pop(name, None)
        if parked is not None:
            parked.cancel()
            self.queue.put_nowait(JobFolder(self.ctx.settings.folders.work_dir / name))
        return True

    def resize(self) -> None:
        """Bring the number of workers up to `size()` (extra ones retire after their job)."""
        self._workers = [t for t in self._workers if not t.done()]
        for index in range(len(self._workers), self._size()):
            self._workers.append(asyncio.create_task(self._worker(index), name=f"worker-{index}"))

    def cancel(self) -> None:
        """The second stop request: cancel running steps at once."""
        for task in self._workers:
            task.cancel()

    async def stop(self, grace: float) -> None:
        """Let running steps reach a checkpoint within `grace` seconds, then cancel them."""
        parked = list(self._parked.values())
        for task in parked:
            task.cancel()
        await self.network.stop()
        if self._workers:
            _, late = await asyncio.wait(self._workers, timeout=grace)
            if late:
                log.warning("%d job step(s) still running after %g s: cancelled", len(late), grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        await asyncio.gather(*parked, return_exceptions=True)

    # -- inside ---------------------------------------------------------------

    async def _worker(self, index: int) -> None:
        while not self.ctx.stopping.is_set() and index < self._size():
            folder = await self._unless_stopping(self.queue.get())
            if folder is None:
                return
            try:
                await self._run(folder)
            finally:
                if folder.path.name not in self._parked:
                    self.present.discard(folder.path.name)

    async def _run(self, folder: JobFolder) -> None:
        try:
            job = folder.load()
        except (OSError, ValueError, NemoError) as exc:
            log.error("cannot read the journal of %s: %s", folder.path, exc)
            return
        if job.stage in (JobStage.DONE, JobStage.FAILED):
            return
        self.ctx.emit(events.StageReached.of(job, stage=job.stage))
        with folder.log_kept_open():
            try:
                outcome = await Pipeline(folder, job, self.ctx).run()
            except FileChangedError:
                # its files are back in the inbox, to be claimed again once settled
                self.ctx.emit(events.Cancelled.of(job, stage=job.stage.value))
                outcome = Outcome.PUT_BACK
            except Exception as exc:  # noqa: BLE001 - one job's bug must not stop a worker
                log.exception("%s: unexpected error", job.name)
                if job.stage is JobStage.DELIVERED:  # the result stays; never a failure
                    return
                outcome = self._fail_unexpected(folder, job, exc)
        if outcome is Outcome.HELD and not self.ctx.stopping.is_set():
            self._park(folder, job)  # (when stopping, the journal names what holds it)

    def tidy(self, folder: JobFolder, job: Job) -> None:
        """A job that ended just before a crash: finish putting it away."""
        finish.tidy(folder, job, self.ctx.settings, self.ctx.results)

    def _fail_unexpected(self, folder: JobFolder, job: Job, exc: Exception) -> Outcome:
        """Send the job to the failed folder with its log; if even that fails, leave it."""
        try:
            finish.fail(folder, job, exc, self.ctx.settings, self.ctx.results)
        except OSError as again:
            log.error(
                "%s: could not move it to the failed folder (%s); left in %s",
                job.name,
                again,
                folder.path,
            )
        failure = job.failure
        self.ctx.emit(
            events.Failed.of(job, stage=job.stage.value, message=failure.message if failure else "")
        )
        return Outcome.FAILED

    def _park(self, folder: JobFolder, job: Job) -> None:
        """Wait, off the workers, until nothing holds the job's next step; then requeue it."""
        work = needs(job)

        async def wait_then_requeue() -> None:
            if await self._released(job.held or ""):
                await self.ctx.conditions.wait_clear(work)
            self.ctx.emit(events.Released.of(job))
            self.queue.put_nowait(folder)

        name = folder.path.name
        self._parked[name] = asyncio.create_task(wait_then_requeue(), name=f"held-{job.id}")
        self._parked[name].add_done_callback(lambda _: self._parked.pop(name, None))

    async def _released(self, name: str) -> bool:
        """Wait for condition `name`'s release: True; False when the network stayed away
        `jobs.network_give_up_minutes` (the job goes back in line, to fail for it)."""
        if name == NETWORK:
            self.network.watch()
        give_up = give_up_in(self.ctx.conditions, self.ctx.settings.jobs)
        deadline = None if give_up is None or name != NETWORK else give_up + 0.05
        try:
            await asyncio.wait_for(self.ctx.conditions.wait_released(name), deadline)
        except TimeoutError:
            return False
        return True

    async def _unless_stopping(self, awaitable: Awaitable[T]) -> T | None:
        """Await `awaitable`, or give up (None) when the daemon starts stopping."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self.ctx.stopping.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            stop.cancel()
            return task.result()
        task.cancel()
        return None
