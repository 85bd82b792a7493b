"""Fixtures for the end-to-end tests: the emulator and the daemon process (see `devkit`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.daemon import TEST_SETTINGS, Daemon
from devkit.emulator import emulator_thread
from nemowatch.emulator import EmulatorServer

#: the instruction of the pairs the tests drop
PAIR_TEXT = "Trim the silences and add a title"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with emulator_thread() as emu:
        yield emu


@pytest.fixture
def make_daemon(tmp_path: Path, emulator: EmulatorServer) -> Iterator[Callable[..., Daemon]]:
    """Daemons configured with per-test overrides (`api={...}`); killed at the end."""
    made: list[Daemon] = []

    def make(**overrides: dict[str, Any]) -> Daemon:
        root = tmp_path / f"nw{len(made) or ''}"
        made.append(Daemon(root, emulator, TEST_SETTINGS, note_text=PAIR_TEXT, **overrides))
        return made[-1]

    yield make
    for d in made:
        d.close()


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    """A daemon with the harness's fast settings, not yet started."""
    return make_daemon()
