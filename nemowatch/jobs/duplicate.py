"""The duplicate guard: one drop is never paid for twice.

Sync tools and people copy the same footage twice. A job whose media (the
sha256 of the bytes, computed while they are read for the upload: a large
file is never read a second time) and instructions (trimmed) and preset
equal those of a job delivered in the last `jobs.duplicate_days` days is not
sent: it fails before its first turn, saying where the earlier result is and
how to pay for it again (`nemowatch retry NAME --start-over`).

Never a duplicate:

- a job put back by `retry --start-over` (`Job.pay_again`): the user asked to pay;
- a refinement (`Job.refines`), which continues its own original's session;
- a job whose media digests are unknown (a journal from before the guard).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nemowatch.errors import DuplicateJobError
from nemowatch.jobs import events
from nemowatch.jobs.model import Job

if TYPE_CHECKING:
    from nemowatch.history_schema import Entry

DAY = 24 * 3600

#: (digests, trimmed instructions, preset, since) -> the latest such delivered job, if any
Lookup = Callable[[Sequence[str], Sequence[str], str | None, float], "Entry | None"]


def digests(job: Job, paths: Sequence[Path], sha256: dict[Path, str]) -> dict[str, str]:
    """The upload's digests by the job's own media names (what the journal keeps)."""
    return {
        name: sha256[path] for name, path in zip(job.media, paths, strict=True) if path in sha256
    }


def exempt(job: Job) -> str | None:
    """Why the guard does not apply to `job` (None: it does)."""
    if job.pay_again:
        return "put back by `retry --start-over`: paid again on request"
    if job.refines is not None:
        return "a refinement of an earlier result"
    if not job.media_sha256 or len(job.media_sha256) < len(job.media):
        return "its media checksums are not known"
    return None


def check(job: Job, lookup: Lookup, days: float, now: float) -> None:
    """Fail `job` when the same drop was delivered within `days` (0: the guard is off).

    Raises:
        DuplicateJobError: with the earlier result's name and date.
    """
    if days <= 0 or exempt(job) is not None:
        return
    texts = [turn.text.strip() for turn in job.turns]
    earlier = lookup(list(job.media_sha256.values()), texts, job.preset, now - days * DAY)
    if earlier is None:
        return
    result = Path(earlier.result).name if earlier.result else earlier.name
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(earlier.ended))
    raise DuplicateJobError(
        f"{job.name} was already delivered as {result} on {when}: the same media and "
        f"instructions within jobs.duplicate_days ({days:g} days), so it was not sent again"
    )


#: what makes two drops the same: their media digests, trimmed turns and preset
Key = tuple[tuple[str, ...], tuple[str, ...], str | None]


def key_of(job: Job) -> Key:
    texts = tuple(turn.text.strip() for turn in job.turns)
    return tuple(sorted(job.media_sha256.values())), texts, job.preset


@dataclass
class _Twin:
    job_id: str
    name: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    #: the result, once it was delivered
    result: str | None = None
    stopped: bool = False


class InFlight:
    """Identical drops at the same time: the second waits for the first, never both pay.

    The history knows only what was delivered, so two copies dropped together
    would both pass its check. The first to reach its turns is recorded here;
    an identical one waits until it ends, then fails as a duplicate if it was
    delivered, or goes on (and pays) if it failed or was cancelled.
    """

    def __init__(self) -> None:
        self._running: dict[Key, _Twin] = {}

    async def enter(self, job: Job, tell: Callable[[str], None]) -> bool:
        """Make `job` the one of its kind in its turns; False when the daemon stops meanwhile.

        Args:
            tell: says why the job waits (shown by `status`), "" once it goes on.

        Raises:
            DuplicateJobError: the identical job it waited for was delivered.
        """
        key = key_of(job)
        while (twin := self._running.get(key)) is not None and twin.job_id != job.id:
            tell(
                f"the same media and instructions are being edited as {twin.name} "
                f"({twin.job_id}): waiting for it, so they are not paid twice"
            )
            await twin.ended.wait()
            tell("")
            if twin.result is not None:
                result = Path(twin.result).name
                raise DuplicateJobError(
                    f"{job.name} was already delivered as {result} a moment ago: the same "
                    "media and instructions were dropped twice, so it was not sent again"
                )
            if twin.stopped:
                return False
        self._running[key] = _Twin(job.id, job.name)
        return True

    def handle(self, event: events.JobEvent) -> None:
        """A job ended (or stopped for shutdown): whoever waits for it goes on."""
        if not isinstance(event, events.Delivered | events.Failed | events.Cancelled):
            if not isinstance(event, events.Stopped):
                return
        for key, twin in list(self._running.items()):
            if twin.job_id == event.job_id:
                if isinstance(event, events.Delivered):
                    twin.result = event.result or event.job_id
                twin.stopped = isinstance(event, events.Stopped)
                twin.ended.set()
                del self._running[key]
