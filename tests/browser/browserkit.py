"""Helpers of the browser tests: a free port, the login, screenshots."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from devkit.daemon import Daemon

#: screenshots of the main views go here (printed; not committed)
SHOTS = Path(os.environ.get("NEMOWATCH_SHOTS", "/tmp/nemowatch-screenshots"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def login_address(daemon: Daemon) -> str:
    """What `nemowatch web` prints: the address with a one-time token."""
    done = daemon.cli("web")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[0]


def logged_in(page: Any, daemon: Daemon) -> Any:
    page.goto(login_address(daemon))
    page.wait_for_selector("#live")
    page.wait_for_function("document.body.dataset.live === 'connected'")
    return page


def shot(page: Any, name: str) -> None:
    """A screenshot at 1280 px and at 360 px wide, under `SHOTS` (printed)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (360, 740)):
        page.set_viewport_size({"width": width, "height": height})
        path = SHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")  # noqa: T201 - the tests print where they are
    page.set_viewport_size({"width": 1280, "height": 800})
