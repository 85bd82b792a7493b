"""The local API's server: the application, and its lifecycle on a Unix socket and TCP.

    api = ApiServer(build_app(control, metrics, metrics_token=token))  # before bus.start()
    await api.start_unix(socket_path(state_dir, runtime_dir))
    ...
    await api.stop(grace)

The socket is mode 0600 (only its user can connect) from the first instant
another process could reach it (see `_bind`). A socket file left by a daemon
that died is removed at start; one on which something answers is not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import tempfile
from collections import OrderedDict
from datetime import tzinfo
from pathlib import Path

from aiohttp import web

from nemowatch.errors import AlreadyRunningError, UsageError
from nemowatch.web import forms, pages, routes, security
from nemowatch.web.control import Control
from nemowatch.web.feed import EventFeed
from nemowatch.web.metrics import Metrics
from nemowatch.web.site import SITE, Site

log = logging.getLogger("nemowatch")

#: seconds between the live feed's keep-alive comments
KEEPALIVE_SECONDS = 15.0
#: how long to wait for an answer on an existing socket file before calling it stale
PROBE_SECONDS = 1.0


def build_app(
    control: Control,
    metrics: Metrics,
    *,
    metrics_token: str | None,
    public_url: str = "",
    zone: tzinfo | None = None,
    keepalive: float = KEEPALIVE_SECONDS,
    site: Site | None = None,
    password: str = "",
) -> web.Application:
    """The API as an aiohttp application; subscribes the live feed and the metrics to
    `control.bus`, so build it before the daemon starts the bus.

    Args:
        control: the daemon.
        metrics: the daemon's metrics (fed here by the job events).
        metrics_token: `[web] metrics_token`: `/metrics` over TCP needs it as a Bearer
            token (None or "": refused over TCP); over the Unix socket none is needed.
        public_url: `[web] public_url`, for the events' links.
        zone: the time zone of the events' times (the machine's when None).
        keepalive: seconds between the live feed's keep-alive comments.
        site: the web page's sources; without it only the API is served (over TCP
            it then needs a session no one can get: only `/metrics` answers there).
        password: `[web] password`, for logins from the page's form ("": none).
    """
    feed = EventFeed(public_url, zone)
    control.bus.subscribe("live feed", feed.handle)
    control.bus.subscribe("metrics", metrics.handle)
    app = web.Application(
        middlewares=[security.headers, routes.errors, security.guard, forms.forms]
    )
    app[security.LOGINS] = security.Logins(password)
    app[forms.SAID] = OrderedDict()
    app[security.PUBLIC_URL] = public_url
    app[routes.CONTROL] = control
    app[routes.METRICS] = metrics
    app[routes.FEED] = feed
    app[routes.METRICS_TOKEN] = metrics_token or None
    app[routes.KEEPALIVE] = keepalive
    routes.add_routes(app)
    if site is not None:
        app[SITE] = site
        pages.add_routes(app)

    async def end_streams(app: web.Application) -> None:
        app[routes.FEED].close()

    app.on_shutdown.append(end_streams)
    return app


class ApiServer:
    """Serves an application from `build_app` on the Unix socket (and on TCP, for the web
    page), and stops within a grace period even with live feeds open."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._runner: web.AppRunner | None = None
        self._socket: tuple[Path, int] | None = None  # path and inode, to remove only ours

    @property
    def socket_path(self) -> Path | None:
        return self._socket[0] if self._socket else None

    async def start_unix(self, path: Path) -> None:
        """Listen on the Unix socket `path` (mode 0600).

        Raises:
            AlreadyRunningError: something answers on `path` already.
            UsageError: `path` exists and is not a socket.
            OSError: the socket cannot be created.
        """
        runner = await self._ready()
        _remove_stale(path)
        sock = _bind(path)
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        self._socket = (path, os.stat(path).st_ino)
        log.info("the local API listens on %s", path)

    async def start_tcp(self, host: str, port: int) -> tuple[str, int]:
        """Listen on TCP as well (`[web] listen`); returns the address bound (port 0: any)."""
        runner = await self._ready()
        before = list(runner.addresses)
        await web.TCPSite(runner, host, port).start()
        bound = [a for a in runner.addresses if isinstance(a, tuple) and a not in before]
        return str(bound[0][0]), int(bound[0][1])

    async def stop(self, grace: float) -> None:
        """End the live feeds, let requests in progress finish within `grace` seconds
        (then cancel them), close every connection and remove the socket file."""
        self.app[routes.FEED].close()
        runner, self._runner = self._runner, None
        if runner is not None:
            for site in list(runner.sites):
                await site.stop()  # no new connections
            server = runner.server
            if server is not None:
                server.pre_shutdown()  # idle keep-alive connections close now
                # waits up to twice its timeout (handlers, then their cancellation),
                # each rounded up to the second past 5 s
                await server.shutdown(grace * 0.4)
            await runner.cleanup()  # nothing left to wait for
        if self._socket is not None:
            path, inode = self._socket
            self._socket = None
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == inode:  # not a newer daemon's socket
                    path.unlink()

    async def _ready(self) -> web.AppRunner:
        if self._runner is None:
            runner = web.AppRunner(
                self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0
            )
            await runner.setup()
            self._runner = runner
        return self._runner


def _remove_stale(path: Path) -> None:
    """Remove a socket file nothing answers on (a daemon that died left it)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise UsageError(f"{path} is in the way of the local API's socket: it is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_SECONDS)
    try:
        probe.connect(os.fspath(path))
    except TimeoutError:
        raise AlreadyRunningError(path, "a process that answers on its socket") from None
    except OSError:
        pass  # refused: nobody listens any more
    else:
        raise AlreadyRunningError(path, "a process that answers on its socket")
    finally:
        probe.close()
    path.unlink()
    log.info("removed the stale socket %s", path)


def _bind(path: Path) -> socket.socket:
    """A socket bound at `path`, mode 0600 from the first instant anyone could reach it.

    It is bound inside a private folder (mode 0700) next to `path`, made 0600 there,
    then renamed into place: no moment with wider rights, and no change of the
    process's umask, which every other thread shares (a folder made in that instant
    would lose its x bit).
    """
    private = Path(tempfile.mkdtemp(prefix=".nw", dir=path.parent))  # shorter than `path`
    staged = private / "s"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.fspath(staged))
        os.chmod(staged, 0o600)
        os.rename(staged, path)
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            staged.unlink()
        raise
    finally:
        with contextlib.suppress(OSError):
            private.rmdir()
    return sock
