"""Results for a team: under the service's `UMask=0077`, a result and its report get
the same mode, and `folders.group_writable` shares them (and the archived originals)
with the group."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devkit.daemon import Daemon
from devkit.waits import wait_for


@pytest.fixture
def service_umask() -> Iterator[None]:
    """The daemon started by the test inherits systemd's UMask=0077."""
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def delivered(daemon: Daemon, sample_video: Path) -> tuple[Path, Path]:
    daemon.drop_pair(sample_video, "holiday")
    result, report = daemon.outbox / "holiday.mp4", daemon.outbox / "holiday.report.txt"
    wait_for(report.exists, 60, "the result and its report")
    archive = daemon.outbox / "originals"
    wait_for(lambda: archive.is_dir() and any(archive.iterdir()), 20, "the originals archived")
    assert daemon.stop() == 0
    return result, report


@pytest.mark.usefixtures("service_umask")
def test_a_result_and_its_report_get_the_same_mode(daemon: Daemon, sample_video: Path) -> None:
    result, report = delivered(daemon.start(), sample_video)
    assert mode(result) == mode(report) == 0o600


@pytest.mark.usefixtures("service_umask")
def test_group_writable_shares_results_reports_and_archived_originals(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(folders={"group_writable": True}).start()
    result, report = delivered(daemon, sample_video)
    assert mode(result) == mode(report) == 0o664
    (archived,) = (daemon.outbox / "originals").iterdir()
    assert mode(archived) == 0o2775
    assert {p.name: mode(p) for p in archived.iterdir()} == {
        "holiday.mp4": 0o664,
        "holiday.txt": 0o664,
    }
