"""Fixtures shared by every test: an isolated home and environment, leak checks."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import daemon as devkit_daemon
from devkit.forkserver import ForkServer

REPO = Path(__file__).resolve().parent.parent

# The suite starts hundreds of Python processes (daemons, commands, its own workers).
# Where PYTHONDONTWRITEBYTECODE is set, each of them compiled every module from source
# again (a sixth of a daemon's CPU, and pytest's assertion rewriting in every worker):
# compiled modules are kept (in __pycache__, ignored by git) for the suite's processes.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


@pytest.fixture(scope="session", autouse=True)
def fork_server() -> Iterator[ForkServer]:
    """Daemons and commands forked from one process per test process (see
    `devkit.forkserver`): each would spend half a second of CPU on its imports."""
    server = ForkServer.start()
    devkit_daemon.use_fork_server(server)
    yield server
    devkit_daemon.use_fork_server(None)
    server.close()


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


def _children(server: ForkServer) -> set[int]:
    """The live child processes of this process (zombies are reaped by their owner), and
    those forked for it by the fork server."""
    found: set[int] = server.children()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _open_fds() -> dict[int, str]:
    fds: dict[int, str] = {}
    for entry in Path("/proc/self/fd").iterdir():
        try:
            fds[int(entry.name)] = os.readlink(entry)
        except OSError:
            continue
    return fds


@pytest.fixture(autouse=True)
def no_process_or_fd_leak(
    request: pytest.FixtureRequest, fork_server: ForkServer
) -> Iterator[None]:
    """A test must stop the processes it started and close the files and sockets it opened.

    `inotify_leak`: watchdog's inotify reader may die with the folder it watched and
    keep its descriptor and wake-up pipe open; only those are let through.
    """
    known = {"anon_inode:inotify"} if request.node.get_closest_marker("inotify_leak") else set()
    children, fds = _children(fork_server), _open_fds()
    yield
    deadline = time.monotonic() + 5
    while True:
        extra_children = _children(fork_server) - children
        now = _open_fds()
        extra_fds = {fd: target for fd, target in now.items() if fds.get(fd) != target}
        if known and set(extra_fds.values()) <= known | {
            t for t in extra_fds.values() if t.startswith("pipe:")
        }:
            extra_fds = {}
        if not (extra_children or extra_fds) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra_children, f"child processes left running: {sorted(extra_children)}"
    assert not extra_fds, f"file descriptors left open: {extra_fds}"


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nemowatch.demo import make_sample

    return make_sample(tmp_path_factory.mktemp("media") / "clip.mp4", 1.5, "160x120")
