"""`nemowatch doctor`: check the setup and say, for each finding, what to do.

Each check prints one line: `ok`, `warning` or `problem`, its name, what was
found and, unless ok, what to do (`--json`: the same as data, `to_json`). Any
problem makes the command exit 1; warnings alone exit 0. The machine-side
checks live in `doctor_checks`; the API check lives here because it is the
only one that talks to the network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from nemowatch.config import Loaded, Settings
from nemowatch.doctor_checks import (
    Check,
    Level,
    System,
    check_config_file,
    check_disk_space,
    check_folder,
    check_inbox_filesystem,
    check_inotify,
    check_same_filesystem,
    read_mounts,
)
from nemowatch.errors import (
    ApiError,
    ExitCode,
    TokenQuotaError,
    TokenRejectedError,
    TransportError,
)

__all__ = [
    "Check",
    "Level",
    "System",
    "check_api",
    "command",
    "exit_code",
    "render",
    "run_checks",
    "to_json",
]

#: the version of `doctor --json`'s format
SCHEMA = 1

#: the doctor asks once and quickly; the daemon's own timeouts are for real work
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0
API_TIMEOUT_SECONDS = 20.0


def folder_paths(settings: Settings) -> list[tuple[str, Path]]:
    """Every folder nemowatch uses, by its key under [folders]."""
    f = settings.folders
    return [
        ("inbox", f.inbox),
        ("outbox", f.outbox),
        ("failed", f.failed),
        ("work", f.work_dir),
        ("state", f.state_dir),
        ("archive", f.archive_dir),
    ]


def _quick(settings: Settings) -> Settings:
    """A copy of `settings` that gives up fast: short timeouts, no retries."""
    api = settings.api.model_copy(
        update={
            "connect_timeout_seconds": min(
                settings.api.connect_timeout_seconds, CONNECT_TIMEOUT_SECONDS
            ),
            "read_timeout_seconds": min(settings.api.read_timeout_seconds, READ_TIMEOUT_SECONDS),
        }
    )
    jobs = settings.jobs.model_copy(update={"retries": 0})
    return settings.model_copy(update={"api": api, "jobs": jobs})


async def check_api(settings: Settings, *, timeout: float = API_TIMEOUT_SECONDS) -> Check:
    """The token works and the balance covers `jobs.min_credits`.

    With no token configured this obtains (and caches) an anonymous token,
    as the daemon would on its first call.
    """
    from nemowatch.api import open_client  # httpx is only needed by this check

    name, url = "token and credits", settings.api.base_url
    if settings.api.token.get_secret_value().strip():
        whose = "the configured token"
    else:
        whose = "an anonymous token (no api.token is configured; the daemon would use one too)"
    try:
        async with asyncio.timeout(timeout), open_client(_quick(settings)) as client:
            credits = await client.credits()
    except TokenRejectedError:
        return Check(
            "problem",
            name,
            f"{url} refused the configured token",
            "replace api.token in the configuration (or NEMO_TOKEN) with a valid token",
        )
    except TokenQuotaError:
        return Check(
            "warning",
            name,
            f"{url} gives this machine no more anonymous tokens (the weekly quota is spent)",
            "set api.token (or NEMO_TOKEN) to your own NemoVideo token",
        )
    except (TransportError, TimeoutError) as exc:
        reason = str(exc) or f"no answer within {timeout:g} s"
        return Check(
            "warning",
            name,
            f"{url} is not reachable: {reason}",
            "check the network and api.base_url",
        )
    except ApiError as exc:
        return Check("warning", name, f"{url} answered with an error: {exc}", "try again later")
    except OSError as exc:  # the token cache or client id could not be written
        return Check("warning", name, f"could not keep the token: {exc}", "check folders.state")
    found = f"{url} accepted {whose}; {credits.available:g} credits available"
    minimum = settings.jobs.min_credits
    if credits.available < minimum:
        return Check(
            "warning",
            name,
            f"{found}, under jobs.min_credits ({minimum}): paid work will pause",
            f"buy credits at {settings.api.web_url}, or lower jobs.min_credits",
        )
    return Check("ok", name, found)


def run_checks(
    settings: Settings, config_path: Path | None, *, system: System | None = None
) -> list[Check]:
    """Run every check, in the order they are printed.

    Args:
        settings: the effective settings.
        config_path: the configuration file in force (`Loaded.path`), or None.
        system: the readers for /proc, stat and disk usage (fakes in tests).

    Returns:
        One `Check` per folder, then filesystem (with write-open detection),
        inotify, config file, API, disk, notifications.

    Must not be called from a running event loop (the API check uses
    `asyncio.run`); async callers use `check_api` directly.
    """
    system = system or System()
    folders, watch = settings.folders, settings.watch
    mounts = read_mounts(system.read_text)
    checks = [check_folder(key, path, system.access) for key, path in folder_paths(settings)]
    checks += [
        check_same_filesystem(folders.inbox, folders.work_dir, system.device_of, mounts),
        check_inbox_filesystem(folders.inbox, watch.polling, mounts, system.leases),
        check_inotify(folders.inbox, watch.polling, system.read_text),
        check_config_file(config_path),
        asyncio.run(check_api(settings)),
        check_disk_space(folders.outbox, settings.jobs.max_file_mb, system.disk_usage),
        check_notifications(settings),
    ]
    return checks


def check_notifications(settings: Settings) -> Check:
    """Notification URLs that cannot work: Apprise missing, or a URL it does not know."""
    from nemowatch.notify.urls import apprise_problem

    notify = settings.notify
    problem = apprise_problem(notify)
    if problem is not None:
        return Check("warning", "notifications", problem, "nothing is sent to those URLs")
    ways = [f"{len(notify.urls)} URL(s)"] if notify.urls else []
    ways += ["a command"] if notify.command else []
    return Check("ok", "notifications", " and ".join(ways) or "none configured")


def render(checks: Sequence[Check]) -> str:
    """One aligned line per check, advice after ` -> `, then a summary line."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        line = f"{c.level:<7}  {c.name:<{width}}  {c.detail}"
        lines.append(f"{line} -> {c.advice}" if c.advice and c.level != "ok" else line)
    counts = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for word in ("problem", "warning")
        if (n := sum(c.level == word for c in checks))
    ]
    lines.append(" and ".join(counts) + " found" if counts else "all checks passed")
    return "\n".join(lines)


def to_json(checks: Sequence[Check]) -> dict[str, object]:
    """`doctor --json`: every check with its name, whether it is ok, what was found.

    `ok` is false for warnings too; `level` tells a warning from a problem,
    and only problems make `problems` true (and the command exit 1).
    """
    return {
        "schema": SCHEMA,
        "problems": any(c.level == "problem" for c in checks),
        "checks": [
            {"name": c.name, "ok": c.level == "ok", "level": c.level}
            | {"message": c.detail, "advice": c.advice}
            for c in checks
        ],
    }


def exit_code(checks: Sequence[Check]) -> int:
    """1 when any check found a problem; warnings alone are not a failure."""
    return ExitCode.FAILED if any(c.level == "problem" for c in checks) else ExitCode.OK


def command(args: argparse.Namespace, loaded: Loaded, *, system: System | None = None) -> int:
    """`nemowatch doctor`: print every check (as JSON with `--json`); exit 1 on a problem."""
    checks = run_checks(loaded.settings, loaded.path, system=system)
    text = json.dumps(to_json(checks)) if getattr(args, "json", False) else render(checks)
    sys.stdout.write(text + "\n")
    return exit_code(checks)
