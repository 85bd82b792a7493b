"""Fixtures for the emulator's conformance tests: a fast emulator, a client, a clip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emukit import FAST, Nemo

from nemowatch.emulator import EmulatorServer, EmulatorSettings


@pytest.fixture(scope="session")
def emu_video(sample_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared 1.5 s H.264/AAC test clip, under the name these tests expect."""
    path = tmp_path_factory.mktemp("emulator-media") / "city.mp4"
    shutil.copyfile(sample_video, path)
    return path


@pytest.fixture
def knobs() -> dict[str, Any]:
    """The knobs of the ``emu`` fixture; a test may override it to start otherwise."""
    return dict(FAST)


@pytest.fixture
def emu(knobs: dict[str, Any]) -> Iterator[EmulatorServer]:
    """A fast emulator on a random loopback port, stopped after the test."""
    with EmulatorServer(settings=EmulatorSettings(**knobs)) as server:
        yield server


@pytest.fixture
def nemo(emu: EmulatorServer) -> Iterator[Nemo]:
    """A protocol client for ``emu`` with attribution headers and no token yet."""
    client = Nemo(emu.url)
    yield client
    client.close()


@pytest.fixture
def project(nemo: Nemo, emu_video: Path) -> str:
    """A session holding the test clip, with a token in place; its id."""
    nemo.token()
    sid = nemo.session()
    assert nemo.upload(sid, emu_video).json()["code"] == 0
    return sid


@pytest.fixture
def edited(nemo: Nemo, project: str) -> str:
    """``project`` after one landed edit turn (second stage may still be pending)."""
    stream = nemo.turn(project)
    assert stream.status == 200
    return project
