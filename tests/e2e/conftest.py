"""Fixtures for the end-to-end tests: the emulator and the daemon process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonkit import FAST_EMULATOR, Daemon

from nemowatch.emulator import EmulatorServer, EmulatorSettings


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(settings=EmulatorSettings(**FAST_EMULATOR)) as emu:
        yield emu


@pytest.fixture
def daemon(tmp_path: Path, emulator: EmulatorServer) -> Iterator[Daemon]:
    """A configured daemon, not yet started; killed at the end if still running."""
    d = Daemon(tmp_path / "nw", emulator)
    yield d
    d.close()
