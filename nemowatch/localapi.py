"""The local API as the daemon runs it: its control, metrics and server, on the socket
and, when `[web] listen` is set, on TCP with the web page.

Built with the daemon (the live feed and the metrics subscribe to the bus
before it starts), listening once the daemon has adopted its journals and
restored a pause, and stopped first at shutdown, so no order arrives while
the workers wind down. A web page that cannot listen (a port in use, a
non-loopback address without `[web] password`) is logged as an error; the
daemon and its socket go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from nemowatch.conditions import Conditions
from nemowatch.control import DaemonControl
from nemowatch.errors import UsageError
from nemowatch.web.address import is_loopback, parse_listen, url_of
from nemowatch.web.metrics import Metrics
from nemowatch.web.paths import socket_path
from nemowatch.web.server import ApiServer, build_app
from nemowatch.web.site import HistoryReader, Site

log = logging.getLogger("nemowatch")


class LocalApi:
    """The daemon's side of `nemowatch status/pause/resume/cancel/retry/web` and `/metrics`.

    Args:
        control: the orders and reads the API serves.
        conditions: the registry (the metrics count the active ones).
        queued: how many jobs are in line.
        runtime_dir: `$XDG_RUNTIME_DIR`, for a socket whose path would be too long.
    """

    def __init__(
        self,
        control: DaemonControl,
        conditions: Conditions,
        queued: Callable[[], int],
        runtime_dir: str | None,
    ) -> None:
        self.control = control
        settings = control.settings()
        web = settings.web
        self._reader = HistoryReader(settings.folders.state_dir)
        self.site = Site(control.settings, self._reader.job)
        app = build_app(
            control,
            Metrics(conditions, queued),
            metrics_token=web.metrics_token.get_secret_value(),
            public_url=web.public_url,
            site=self.site,
            password=web.password.get_secret_value(),
        )
        self.server = ApiServer(app)
        self._runtime_dir = runtime_dir

    def socket(self, state_dir: Path) -> Path:
        return socket_path(state_dir, self._runtime_dir)

    async def start(self, state_dir: Path) -> None:
        """Restore a pause asked for before a restart, then listen on the socket, and on
        `[web] listen` when it is set.

        A socket that cannot be made is logged, not fatal: the jobs go on, and the
        commands say that nothing answers. So is a web page that cannot listen.
        """
        self.control.restore_pause()
        try:
            await self.server.start_unix(self.socket(state_dir))
        except (UsageError, OSError) as exc:
            log.error("the local API is off (pause, resume, cancel cannot reach it): %s", exc)
        await self._start_web()

    async def _start_web(self) -> None:
        web = self.control.settings().web
        if not web.listen:
            return
        try:
            host, port = parse_listen(web.listen)
            if not is_loopback(host) and not web.password.get_secret_value():
                raise UsageError(
                    f"[web] listen = {web.listen!r} reaches other machines: set [web] password "
                    "for their logins, or listen on 127.0.0.1"
                )
            bound = await self.server.start_tcp(host, port)
        except (UsageError, OSError) as exc:
            log.error("the web page is off (%s): %s", web.listen, exc)
            return
        self.site.address = url_of(*bound)
        log.info(
            "the web page is at %s (`nemowatch web` prints a login address)", self.site.address
        )

    async def stop(self, grace: float) -> None:
        await self.server.stop(grace)
        self._reader.close()
