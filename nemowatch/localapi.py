"""The local API as the daemon runs it: its control, metrics and server, on the socket.

Built with the daemon (the live feed and the metrics subscribe to the bus
before it starts), listening once the daemon has adopted its journals and
restored a pause, and stopped first at shutdown, so no order arrives while
the workers wind down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from nemowatch.conditions import Conditions
from nemowatch.control import DaemonControl
from nemowatch.errors import UsageError
from nemowatch.web.metrics import Metrics
from nemowatch.web.paths import socket_path
from nemowatch.web.server import ApiServer, build_app

log = logging.getLogger("nemowatch")


class LocalApi:
    """The daemon's side of `nemowatch status/pause/resume/cancel/retry` and `/metrics`.

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
        web = control.settings().web
        app = build_app(
            control,
            Metrics(conditions, queued),
            metrics_token=web.metrics_token.get_secret_value(),
            public_url=web.public_url,
        )
        self.server = ApiServer(app)
        self._runtime_dir = runtime_dir

    def socket(self, state_dir: Path) -> Path:
        return socket_path(state_dir, self._runtime_dir)

    async def start(self, state_dir: Path) -> None:
        """Restore a pause asked for before a restart, then listen on the socket.

        A socket that cannot be made is logged, not fatal: the jobs go on, and the
        commands say that nothing answers.
        """
        self.control.restore_pause()
        try:
            await self.server.start_unix(self.socket(state_dir))
        except (UsageError, OSError) as exc:
            log.error("the local API is off (pause, resume, cancel cannot reach it): %s", exc)

    async def stop(self, grace: float) -> None:
        await self.server.stop(grace)
