"""Job events: what the pipeline says happened, and the bus that fans them out.

The pipeline knows no consumer: it calls `emit(event)`. The daemon's `EventBus`
hands each event to every subscriber through a queue of its own, drained by a
task of its own, so a slow subscriber (a history write, a notification) never
blocks the pipeline or another subscriber; one that falls too far behind
loses events, with a line in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from nemowatch.jobs.model import Job, JobStage

log = logging.getLogger("nemowatch")


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    name: str
    at: float = field(default_factory=time.time, kw_only=True)
    #: a copy of the journal as the job ended (for the history), on the events that end it
    record: Job | None = field(default=None, kw_only=True, compare=False, repr=False)
    #: whether `of()` attaches `record`
    ends_job: ClassVar[bool] = False

    @classmethod
    def of(cls, job: Job, **fields: Any) -> Self:
        if cls.ends_job:
            fields.setdefault("record", job.model_copy(deep=True))
        return cls(job.id, job.name, **fields)


@dataclass(frozen=True)
class Claimed(JobEvent):
    """A job was taken from the inbox, or adopted from the work folder at start."""

    stage: JobStage = JobStage.CLAIMED


@dataclass(frozen=True)
class StageReached(JobEvent):
    stage: JobStage = JobStage.CLAIMED


@dataclass(frozen=True)
class Progress(JobEvent):
    """Upload, edit, render or download progress (`total` 0: no known end); an edit's
    progress names its turn (`turn` of `turns`, from 1)."""

    what: str = ""
    done: float = 0.0
    total: float = 0.0
    turn: int = 0
    turns: int = 0


@dataclass(frozen=True)
class TurnAnswered(JobEvent):
    index: int = 0
    count: int = 0
    answer: str = ""
    verified: bool = False


@dataclass(frozen=True)
class Held(JobEvent):
    """A condition holds the job where it stands; `condition` names it."""

    stage: JobStage = JobStage.CLAIMED
    condition: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Waiting(JobEvent):
    """A fault of the job's own outlasted the step's retries: the step is tried again
    later (no condition, nothing else waits). `reason` says for what and since when;
    "" once the step went through."""

    stage: JobStage = JobStage.CLAIMED
    reason: str = ""


@dataclass(frozen=True)
class Released(JobEvent):
    """A held job is back in line."""


@dataclass(frozen=True)
class Delivered(JobEvent):
    ends_job: ClassVar[bool] = True
    result: str = ""
    report: str | None = None


@dataclass(frozen=True)
class Failed(JobEvent):
    ends_job: ClassVar[bool] = True
    stage: str = ""
    message: str = ""
    code: int | None = None


@dataclass(frozen=True)
class Cancelled(JobEvent):
    ends_job: ClassVar[bool] = True
    stage: str = ""


@dataclass(frozen=True)
class Stopped(JobEvent):
    """The job stopped at a checkpoint for shutdown; its journal is current."""


Emit = Callable[[JobEvent], None]
Handler = Callable[[JobEvent], Awaitable[None] | None]


def ignore(event: JobEvent) -> None:
    """An `Emit` for callers nobody listens to."""


class EventBus:
    """Fans job events out to subscribers, each behind a bounded queue of its own."""

    def __init__(self) -> None:
        self._subscribers: list[Feed] = []

    def subscribe(
        self, name: str, handler: Handler, *, maxsize: int = 1000, progress: bool = True
    ) -> Feed:
        """Call `handler` with every event from now on (in its own task once started).

        `progress=False`: not with `Progress` events, by far the most frequent (a
        subscriber that has no use for them is not woken for each one).
        """
        feed = Feed(name, handler, asyncio.Queue(maxsize), progress)
        self._subscribers.append(feed)
        return feed

    def emit(self, event: JobEvent) -> None:
        progress = isinstance(event, Progress)
        for subscriber in self._subscribers:
            if subscriber.progress or not progress:
                subscriber.offer(event)

    def start(self) -> None:
        for subscriber in self._subscribers:
            subscriber.start()

    async def stop(self) -> None:
        """Deliver what is queued, then end every subscriber's task."""
        for subscriber in self._subscribers:
            await subscriber.stop()


@dataclass
class Feed:
    """One subscriber's queue and the task that drains it."""

    name: str
    handler: Handler
    queue: asyncio.Queue[JobEvent | None]
    #: whether it is given `Progress` events (most are; the history keeps none of them)
    progress: bool = True
    task: asyncio.Task[None] | None = None
    dropped: int = 0

    def offer(self, event: JobEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s falls behind: %d job event(s) dropped", self.name, self.dropped)

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._drain(), name=f"events-{self.name}")

    async def caught_up(self) -> None:
        """Until the handler has had every event offered so far (at once when the feed
        is not running). Never from the handler itself: it would wait for itself."""
        if self.task is None or self.task.done():
            return
        joined = asyncio.ensure_future(self.queue.join())
        try:  # a feed cancelled at shutdown has no more to give
            await asyncio.wait({joined, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            joined.cancel()

    async def stop(self) -> None:
        if self.task is None:
            return
        while True:  # the end marker must get in, even behind a full queue
            try:
                self.queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                await asyncio.sleep(0.01)
        await self.task
        self.task = None

    async def _drain(self) -> None:
        while (event := await self.queue.get()) is not None:
            try:
                result = self.handler(event)
                if result is not None:
                    await result
            except Exception:  # noqa: BLE001 - one subscriber's bug must not end its feed
                log.exception("%s failed on %s", self.name, type(event).__name__)
            finally:
                self.queue.task_done()
        self.queue.task_done()  # the end marker
