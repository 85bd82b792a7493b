"""A reload (SIGHUP) put in force: what can change while the daemon runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nemowatch.api import NemoClient
from nemowatch.config import Settings, merge_reload
from nemowatch.errors import ConfigError
from nemowatch.jobs.context import Context
from nemowatch.systemd import Notifier

log = logging.getLogger("nemowatch")


def reconfigure(
    load: Callable[[], Settings] | None, notifier: Notifier, apply: Callable[[Settings], None]
) -> None:
    """Read the configuration again (SIGHUP) and `apply` it; a file that does not parse
    or validate is refused with every reason, and the settings in force stay."""
    if load is None:
        return
    notifier.reloading()
    try:
        new = load()
    except ConfigError as exc:
        log.error("reload rejected, the old configuration stays in force: %s", exc)
    else:
        apply(new)
    finally:
        notifier.ready()


def apply(
    new: Settings,
    ctx: Context,
    client: NemoClient,
    scheduler: AsyncIOScheduler,
    reconfigure_inbox: Callable[[Settings], None],
) -> Settings:
    """Put `new` in force in the shared context, but for the restart-only keys; the
    settings now in force."""
    merged, kept = merge_reload(ctx.settings, new)
    if kept:
        log.warning("reload: %s changed; that takes a restart (kept as before)", ", ".join(kept))
    ctx.settings = merged
    ctx.uploads = asyncio.Semaphore(merged.jobs.max_parallel_uploads)
    reconfigure_inbox(merged)  # new [watch] values, presets added or removed
    client.reconfigure(merged.api, merged.export)
    if ctx.cost is not None:  # a raised budget or moved work hours release held work now
        ctx.cost.reconfigured()
    logging.getLogger().setLevel(merged.logging.level)
    scheduler.reschedule_job("rescan", trigger="interval", seconds=merged.watch.rescan_seconds)
    log.info("configuration reloaded (%d job(s) at once)", merged.jobs.max_parallel)
    return merged
