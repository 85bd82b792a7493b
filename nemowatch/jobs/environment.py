"""When a job's write fails for a cause of its surroundings, not of the job.

A full or read-only disk, or an outbox or failed folder that vanished, is a
condition (`disk`, `folder missing`): the job waits where it stands and goes
on once the folder takes writes again. Anything else stays the job's own
error.
"""

from __future__ import annotations

from nemowatch.conditions import Condition
from nemowatch.disk import DENIED, is_disk_error, role_of
from nemowatch.folderwatch import MISSING
from nemowatch.jobs.context import Context


def condition_for(ctx: Context, exc: OSError, *, need: int = 0) -> Condition | None:
    """The condition that now holds the job's write, or None: the error is the job's."""
    folders = ctx.settings.folders
    where = exc.filename if isinstance(exc.filename, str) else str(folders.work_dir)
    if isinstance(exc, FileNotFoundError | NotADirectoryError) and ctx.folder_watch is not None:
        if not ctx.folder_watch.check():
            return ctx.conditions.get(MISSING)
        return None
    if ctx.disk is None:
        return None
    own_folder = exc.errno in DENIED and role_of(where, folders) in ("outbox", "failed folder")
    if is_disk_error(exc) or own_folder:
        return ctx.disk.report(where, exc, need=need)
    return None


def holding(ctx: Context, exc: OSError) -> Condition:
    """The condition that holds the job after `exc`.

    Raises:
        OSError: `exc` itself, when it is the job's own error.
    """
    condition = condition_for(ctx, exc)
    if condition is None:
        raise exc
    return condition
