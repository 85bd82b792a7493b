"""The job folder on disk: `job.json` (the journal), `job.log`, and `files/`.

The journal is written whole or not at all (temporary file, fsync, rename), so
a crash at any moment leaves either the old or the new state. The log is
line-buffered, so every line is on disk (in the page cache) as it is noted.
A running job keeps its log open (`log_kept_open`); otherwise it is opened for
each line and closed again, so a queued job holds no open file. (Each close
is an inotify event: the work folder lies inside the watched inbox.)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from nemowatch.errors import InputError, JobRemovedError, NemoError
from nemowatch.fsutil import rewrite
from nemowatch.jobs.model import JOURNAL_VERSION, Job, JobStage
from nemowatch.redact import redact

JOURNAL = "job.json"
LOG = "job.log"
FILES = "files"

log = logging.getLogger("nemowatch.jobs")


class JobFolder:
    """One job's folder under the work directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._log: TextIO | None = None

    @property
    def files(self) -> Path:
        return self.path / FILES

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL

    @property
    def log_file(self) -> Path:
        return self.path / LOG

    def load(self) -> Job:
        """The journal, brought up to `JOURNAL_VERSION` (an upgrade mid-job resumes it)."""
        return Job.model_validate(migrate(json.loads(self.journal.read_bytes())))

    def save(self, job: Job) -> None:
        # an error message may quote a token: the journal is masked like the log
        text = redact(job.model_dump_json(indent=2)).encode()
        try:
            rewrite(self.journal, text)
        except FileNotFoundError:
            raise JobRemovedError(f"{self.path} was removed") from None

    def media_paths(self, job: Job) -> list[Path]:
        return [Path(m) if Path(m).is_absolute() else self.files / m for m in job.media]

    def instructions_path(self, job: Job) -> Path | None:
        return self.files / job.instructions_file if job.instructions_file else None

    def note(self, job: Job, message: str, *, level: int = logging.INFO) -> None:
        """One line in job.log and in the daemon's log, tokens masked in both."""
        message = redact(message)
        log.log(level, "%s: %s", job.name, message)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        line = f"{stamp} {logging.getLevelName(level):<7} {message}\n"
        try:
            if self._log is not None:
                self._log.write(line)
                return
            with self.log_file.open("a", encoding="utf-8") as f:
                f.write(line)
        except OSError:
            pass  # a full disk, a removed folder: the daemon's log has the line

    def failed_on_disk(self) -> bool:
        """Whether the journal on disk says the job failed (its failure was recorded)."""
        try:
            return self.load().stage is JobStage.FAILED
        except (OSError, ValueError, NemoError):
            return False

    @contextmanager
    def log_kept_open(self) -> Iterator[None]:
        """Keep job.log open while the job runs; if it cannot be opened, a line at a time."""
        try:
            self._log = self.log_file.open("a", encoding="utf-8", buffering=1)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            self.close_log()

    def close_log(self) -> None:
        """Stop keeping job.log open (the job's folder is put away)."""
        log_file, self._log = self._log, None
        if log_file is not None:
            log_file.close()


def _v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Journals written before the version field: the same shape, now numbered."""
    return data


#: MIGRATIONS[n] turns a journal of version n into version n + 1
MIGRATIONS = [_v0_to_v1]


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a journal's content up to the current version, one step at a time.

    Raises:
        InputError: the journal was written by a newer nemowatch (left untouched).
    """
    version = int(data.get("version", 0))
    if version > JOURNAL_VERSION:
        raise InputError(
            f"the journal is of version {version}, newer than this nemowatch "
            f"({JOURNAL_VERSION}); upgrade nemowatch to resume it"
        )
    for step in MIGRATIONS[version:JOURNAL_VERSION]:
        data = step(data)
    return {**data, "version": JOURNAL_VERSION}


def existing_jobs(work_dir: Path) -> list[JobFolder]:
    """Job folders with a journal, oldest claim first (ids sort by claim time)."""
    if not work_dir.is_dir():
        return []
    return [
        JobFolder(p) for p in sorted(work_dir.iterdir()) if p.is_dir() and (p / JOURNAL).is_file()
    ]
