"""Fixtures for the end-to-end tests: the emulator and the daemon process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonkit import FAST_EMULATOR, Daemon

from nemowatch.emulator import EmulatorServer, EmulatorSettings


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(settings=EmulatorSettings(**FAST_EMULATOR)) as emu:
        yield emu


@pytest.fixture
def make_daemon(tmp_path: Path, emulator: EmulatorServer) -> Iterator[Callable[..., Daemon]]:
    """Daemons configured with per-test overrides (`api={...}`); killed at the end."""
    made: list[Daemon] = []

    def make(**overrides: dict[str, Any]) -> Daemon:
        made.append(Daemon(tmp_path / f"nw{len(made) or ''}", emulator, **overrides))
        return made[-1]

    yield make
    for d in made:
        d.close()


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    """A daemon with the harness's fast settings, not yet started."""
    return make_daemon()
