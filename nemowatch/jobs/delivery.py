"""The last steps of a job: download the render into the outbox, then finish it.

The download goes to a temporary name journaled first (`.nw-HEX.part`), then
is linked into place under a name never taken; a restart between the two finds
the result by its inode. Finishing writes the report and puts the originals
away (`finish.deliver`); a failure there never makes the job a failure.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from nemowatch.api import RenderStatus, Session
from nemowatch.api.transfer import TakenMeanwhileError
from nemowatch.errors import ApiError, TidyingError
from nemowatch.jobs import events, finish
from nemowatch.jobs.context import Context
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage
from nemowatch.jobs.results import link_free_name, numbered, published_as
from nemowatch.jobs.turns import TurnSteps


class DeliverySteps(TurnSteps):
    def __init__(self, folder: JobFolder, job: Job, ctx: Context) -> None:
        super().__init__(folder, job, ctx)
        #: the render status that said "completed" (its output URL is fresh)
        self._completed: RenderStatus | None = None

    async def _download(self) -> None:
        job = self.job
        assert job.render_id
        outbox = self.settings.folders.outbox
        stem, suffix = job.result_stem or job.name, "." + self.settings.export.format
        if job.partial and self._published_before_a_crash(outbox, stem, suffix):
            return
        # The status that just said "completed" holds a fresh output.url; after a
        # restart or a failed attempt, ask again.
        status, self._completed = self._completed, None
        if status is None or status.render_id != job.render_id:
            status = await self.client.render_status(job.render_id)
        # the temporary name is journaled first: a crash leaves nothing unknown behind
        part = outbox / (job.partial or f".nw-{secrets.token_hex(6)}.part")
        if job.partial is None:
            job.partial = part.name
            self.save()
        dest = next(d for d in numbered(outbox, stem, suffix) if not d.exists())
        try:
            path = await self.client.download(status, dest, part=part, progress=self._downloaded)
        except TakenMeanwhileError:  # never overwrite: the whole file takes the next name
            path = link_free_name(part, outbox, stem, suffix)
        self._delivered(path)

    def _published_before_a_crash(self, outbox: Path, stem: str, suffix: str) -> bool:
        """A restart after the result was linked but before it was journaled: same inode."""
        job = self.job
        assert job.partial
        part = outbox / job.partial
        found = published_as(part, outbox, stem, suffix)
        if found is None:
            part.unlink(missing_ok=True)  # cut off mid-download: fetched again
            return False
        self.note(f"found its result {found.name} from before the restart")
        self._delivered(found)
        return True

    def _delivered(self, path: Path) -> None:
        job = self.job
        job.result = str(path)
        job.move_to(JobStage.DELIVERED)
        self.save()
        if job.partial:  # the second link, kept until the result was journaled
            (path.parent / job.partial).unlink(missing_ok=True)
            job.partial = None  # journaled by the next step (`_finish` unlinks it again)
        self.note(f"delivered {path}")

    def _downloaded(self, done: int, total: int) -> None:
        self.progress("download", done, total)

    async def _finish(self) -> None:
        job = self.job
        if job.partial and job.result:  # a crash after the result was journaled
            (Path(job.result).parent / job.partial).unlink(missing_ok=True)
            job.partial = None
        wants_link = self.settings.jobs.write_report and not job.report and job.result
        link = await self._web_link() if wants_link else ""
        try:
            finish.deliver(
                self.folder,
                job,
                self.settings,
                self.ctx.results,
                link=link,
                save=self.save,
                tell=self.tell,
            )
        except OSError as exc:
            # the result is in the outbox: this never makes the job a failure
            raise TidyingError(job.result or "", exc) from exc
        self.ctx.emit(events.Delivered.of(job, result=job.result or "", report=job.report))

    async def _web_link(self) -> str:
        job = self.job
        if not job.session_id:
            return "(no session)"
        try:
            claim = await self.client.claim_token(Session(job.task_id or "", job.session_id))
        except ApiError as exc:
            return f"(not available: {exc})"
        return self.client.web_link(claim)
