"""`nemowatch run` and the commands about the daemon: `status`, and `pause`,
`resume`, `cancel`, which talk to the running daemon over its local API."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from nemowatch import config
from nemowatch.commands import complain, say, say_json
from nemowatch.errors import AlreadyRunningError, AmbiguousError, ExitCode

if TYPE_CHECKING:
    from nemowatch.web.client import DaemonClient


def run(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch.api import open_client
    from nemowatch.daemon import Daemon
    from nemowatch.systemd import Notifier

    notifier = Notifier(os.environ.get("NOTIFY_SOCKET"), watchdog_usec(os.environ))

    def reload() -> config.Settings:
        return config.load(args.config, os.environ).settings  # SIGHUP: the lookup of the start

    async def serve() -> int:
        async with open_client(loaded.settings) as client:
            daemon = Daemon(
                loaded.settings,
                client,
                notifier=notifier,
                reload=reload,
                runtime_dir=os.environ.get("XDG_RUNTIME_DIR"),
            )
            return await daemon.serve()

    try:
        return asyncio.run(serve())
    except (AlreadyRunningError, OSError) as exc:
        complain(f"could not start: {exc}")
        return ExitCode.START


def watchdog_usec(environ: Mapping[str, str]) -> int | None:
    """systemd's watchdog interval, when it is meant for this process."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec)


def status(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """What the daemon does; exits 3 when no daemon runs, as `systemctl status` does."""
    from nemowatch import status

    if args.json:
        data = status.to_json(loaded.settings)
        say_json(data)
        running = bool(data["running"])
    else:
        say(status.render(loaded.settings))
        running = status.running_daemon(loaded.settings) is not None
    return ExitCode.OK if running else ExitCode.START


def daemon_client(settings: config.Settings) -> DaemonClient:
    """The running daemon's local API (`DaemonNotRunningError` on the first call when
    nothing answers: exit 1)."""
    from nemowatch.web.client import DaemonClient
    from nemowatch.web.paths import socket_path

    path = socket_path(settings.folders.state_dir, os.environ.get("XDG_RUNTIME_DIR"))
    return DaemonClient(path)


def pause(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """Hold new jobs and new steps until `resume`, across restarts."""
    with daemon_client(loaded.settings) as client:
        say(client.pause())
    return ExitCode.OK


def resume(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """Release a pause, and check every condition now (a top-up takes effect at once)."""
    with daemon_client(loaded.settings) as client:
        say(client.resume())
    return ExitCode.OK


def cancel(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """Stop a job at its next checkpoint, or set a waiting file aside."""
    with daemon_client(loaded.settings) as client:
        try:
            say(client.cancel(args.job))
        except AmbiguousError as exc:
            complain(f"{exc}:")
            for job_id in exc.ids:
                complain(f"  {job_id}")
            return ExitCode.USAGE
    return ExitCode.OK
