"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and a real
daemon (with its emulator) whose web page listens on a free loopback port.

Without Chromium (`apt-get install chromium`) or Playwright (`pip install -e '.[dev]'`)
the tests skip and say so; with `CI=true` that is a failure instead. No browser is
ever downloaded: Playwright drives the system's Chromium.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import free_port

from devkit.daemon import Daemon
from tests.e2e import conftest as e2e

#: the end-to-end tests' fixtures: the emulator and `make_daemon`
emulator, make_daemon = e2e.emulator, e2e.make_daemon

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
#: every wait in the page, in milliseconds
WAIT_MS = 20_000


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: the browser tests must run)")
    pytest.skip(why)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (stopped with its driver at the end of the test)."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        _missing("no Chromium: install it with `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("no Playwright: `pip install -e '.[dev]'` (never `playwright install`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=WAIT_MS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # bypass_csp: Playwright's own waits evaluate strings, which the page's policy forbids
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def web_daemon(make_daemon: Callable[..., Daemon]) -> Callable[..., Daemon]:
    """Start a daemon whose page listens on a free loopback port (`daemon.web_url`)."""

    def start(**overrides: dict[str, Any]) -> Daemon:
        port = free_port()
        web = {"listen": f"127.0.0.1:{port}", **overrides.pop("web", {})}
        daemon = make_daemon(web=web, **overrides).start()
        daemon.web_url = f"http://127.0.0.1:{port}/"  # type: ignore[attr-defined]
        daemon.wait_for(lambda: "the web page is at" in daemon.log_text(), 10, "the page")
        return daemon

    return start
