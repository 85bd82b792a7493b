"""A reload (SIGHUP) put in force: what can change while the daemon runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch.api import NemoClient
from nemowatch.config import Settings, WatchSettings, merge_reload
from nemowatch.jobs.context import Context

log = logging.getLogger("nemowatch")


def apply(
    new: Settings,
    ctx: Context,
    client: NemoClient,
    scheduler: AsyncIOScheduler,
    reconfigure_inbox: Callable[[WatchSettings], None],
) -> Settings:
    """Put `new` in force in the shared context, but for the restart-only keys; the
    settings now in force."""
    merged, kept = merge_reload(ctx.settings, new)
    if kept:
        log.warning("reload: %s changed; that takes a restart (kept as before)", ", ".join(kept))
    ctx.settings = merged
    ctx.uploads = asyncio.Semaphore(merged.jobs.max_parallel_uploads)
    reconfigure_inbox(merged.watch)
    client.reconfigure(merged.api, merged.export)
    logging.getLogger().setLevel(merged.logging.level)
    scheduler.reschedule_job("rescan", trigger="interval", seconds=merged.watch.rescan_seconds)
    log.info("configuration reloaded (%d job(s) at once)", merged.jobs.max_parallel)
    return merged
