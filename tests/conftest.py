"""Fixtures shared by every test: an isolated home and environment, leak checks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME and XDG folders, no NEMO_/NEMOWATCH_ variables, cwd outside the checkout.

    Nothing a test does may read or write the real ~/.config/nemovideo or
    pick up the checkout's ./config/nemowatch.toml by accident.
    """
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("NEMO_", "NEMOWATCH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """A test must stop every thread it started (servers, observers, executors)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    leaked: list[threading.Thread] = []
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {[t.name for t in leaked]}")


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nemowatch.demo import make_sample

    return make_sample(tmp_path_factory.mktemp("media") / "clip.mp4", 1.5, "160x120")
