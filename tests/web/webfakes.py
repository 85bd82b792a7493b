"""A fake daemon behind the real local API: `FakeControl`, `served()` to run the API on
its socket, and `served_page()` to run the web page as well, on loopback TCP.

The server is real (aiohttp on a real Unix socket under a short temporary
folder, and on 127.0.0.1), and so are the event bus, the condition registry
and the metrics; only the daemon's side is a small fake that records what it
was asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from nemowatch.conditions import Conditions
from nemowatch.config import Settings
from nemowatch.errors import AmbiguousError, NotFoundError
from nemowatch.history_schema import Entry
from nemowatch.jobs.events import EventBus
from nemowatch.sections import FolderSettings, JobSettings
from nemowatch.web.address import url_of
from nemowatch.web.control import RetryHow
from nemowatch.web.metrics import Metrics
from nemowatch.web.paths import socket_path
from nemowatch.web.server import ApiServer, build_app
from nemowatch.web.site import Site

ZONE = ZoneInfo("UTC")
ENTRY = {
    "id": "20270115-080000-holiday-abc123",
    "name": "holiday",
    "outcome": "delivered",
    "result": "/out/holiday.mp4",
    "reason": None,
    "code": None,
    "started": "2027-01-15T08:00:00+00:00",
    "ended": "2027-01-15T08:02:00+00:00",
    "credits": 3.0,
}


@dataclass
class FakeControl:
    """What the daemon would answer; `calls` records every action and history query."""

    bus: EventBus = field(default_factory=EventBus)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    credits: float | None = 42.0
    #: when set, `pause()` waits for it (a request the daemon is slow to answer)
    pause_gate: asyncio.Event | None = None

    def status(self) -> dict[str, Any]:
        return {
            "running": True,
            "pid": 1234,
            "conditions": [{"name": "paused", "reason": "paused by the user", "since": 1.0}],
            "jobs": [
                {
                    "id": "j1",
                    "name": "holiday",
                    "stage": "rendering",
                    "doing": "rendering",
                    "since": 2.0,
                    "progress": "render 40%",
                }
            ],
            "waiting": [{"path": "/in/cat.mp4", "reason": "waiting for its note"}],
            "credits": self.credits,
        }

    async def history(
        self,
        failed: bool,
        since_days: float | None,
        limit: int | None,
        offset: int,
        search: str | None,
    ) -> list[dict[str, Any]]:
        self.calls.append(("history", failed, since_days, limit, offset, search))
        return [ENTRY]

    async def pause(self) -> str:
        self.calls.append(("pause",))
        if self.pause_gate is not None:
            await self.pause_gate.wait()
        return "Paused: running steps stop at their next checkpoint."

    async def resume(self) -> str:
        self.calls.append(("resume",))
        return "Resumed; every condition is checked again now."

    async def cancel(self, id_or_name: str) -> str:
        self.calls.append(("cancel", id_or_name))
        if id_or_name == "twins":
            raise AmbiguousError("2 jobs are named twins: give one id", ["t1", "t2"])
        if id_or_name == "nothing":
            raise NotFoundError("no job named nothing")
        return f"Cancelling {id_or_name} at its next checkpoint."

    async def retry(self, name: str, how: RetryHow) -> str:
        self.calls.append(("retry", name, how))
        if name == "nothing":
            raise NotFoundError("no failed job named nothing")
        return f"{name} is back in line."

    async def retry_all(self) -> str:
        self.calls.append(("retry_all",))
        return "2 failed jobs are back in line."


@dataclass
class Served:
    control: FakeControl
    conditions: Conditions
    metrics: Metrics
    server: ApiServer
    socket: Path
    queued: list[int]

    def client(self) -> httpx.AsyncClient:
        """An HTTP client on the Unix socket (close it: `async with`)."""
        return httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(self.socket)),
            base_url="http://nemowatch",
            timeout=5.0,
        )


@contextlib.asynccontextmanager
async def served(
    state_dir: Path, *, metrics_token: str | None = "s3cret-metrics-token", keepalive: float = 15
) -> AsyncIterator[Served]:
    """The API of a fake daemon on a real socket; stopped (with the bus) on the way out."""
    with tempfile.TemporaryDirectory(prefix="nw") as runtime_dir:
        control, conditions, queued = FakeControl(), Conditions(), [0]
        metrics = Metrics(conditions, lambda: queued[0])
        app = build_app(
            control,
            metrics,
            metrics_token=metrics_token,
            public_url="http://nemo.example",
            zone=ZONE,
            keepalive=keepalive,
        )
        server = ApiServer(app)
        path = socket_path(state_dir, runtime_dir)
        control.bus.start()
        try:
            await server.start_unix(path)
            yield Served(control, conditions, metrics, server, path, queued)
        finally:
            await server.stop(2.0)
            await control.bus.stop()


@dataclass
class Page:
    tcp: httpx.AsyncClient  # logged in, with its CSRF token
    anonymous: httpx.AsyncClient
    unix: httpx.AsyncClient
    settings: Settings
    csrf: str
    control: FakeControl


@contextlib.asynccontextmanager
async def served_page(
    root: Path, max_file_mb: float = 1, job: Callable[[str], Entry | None] = lambda _id: None
) -> AsyncIterator[Page]:
    """The web page of a fake daemon on 127.0.0.1 (and its socket), with a client logged in
    as the browser is; `job` gives the history's jobs by id. Stopped on the way out."""
    settings = Settings(
        folders=FolderSettings(
            inbox=root / "inbox",
            outbox=root / "outbox",
            failed=root / "failed",
            state=root / "state",
        ),
        jobs=JobSettings(max_file_mb=max_file_mb),
    )
    for path in (settings.folders.inbox, settings.folders.outbox, settings.folders.failed):
        path.mkdir(parents=True, exist_ok=True)
    control = FakeControl()
    site = Site(lambda: settings, job)
    app = build_app(
        control, Metrics(Conditions(), lambda: 0), metrics_token=None, zone=ZONE, site=site
    )
    server = ApiServer(app)
    with tempfile.TemporaryDirectory(prefix="nw") as runtime:
        control.bus.start()
        try:
            path = socket_path(root / "state", runtime)
            path.parent.mkdir(parents=True, exist_ok=True)
            await server.start_unix(path)
            host, port = await server.start_tcp("127.0.0.1", 0)
            site.address = url_of(host, port)
            unix = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=str(path)), base_url="http://nw", timeout=5
            )
            tcp = httpx.AsyncClient(base_url=site.address, timeout=5)
            anonymous = httpx.AsyncClient(base_url=site.address, timeout=5)
            async with unix, tcp, anonymous:
                url = (await unix.post("/api/web/login-token")).json()["url"]
                assert (await tcp.get(url)).status_code == 303
                home = (await tcp.get("/")).text
                csrf = home.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
                yield Page(tcp, anonymous, unix, settings, csrf, control)
        finally:
            await server.stop(2.0)
            await control.bus.stop()
