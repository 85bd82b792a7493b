"""The notify protocol end to end: a real AF_UNIX datagram socket as NOTIFY_SOCKET."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devkit.daemon import Daemon
from devkit.notify import NotifySocket
from devkit.waits import wait_for


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    with NotifySocket(tmp_path / "notify.sock") as sock:
        yield sock


def test_ready_watchdog_status_reload_and_stopping(
    make_daemon: Callable[..., Daemon], notify: NotifySocket, sample_video: Path
) -> None:
    daemon = make_daemon()
    daemon.emulator.control.set(render_seconds=3)
    daemon.start(env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000"})
    ready = notify.wait("READY=1")
    assert (daemon.state / "status.json").exists(), "READY only after the startup scan"
    notify.wait("STATUS=0 running, 0 queued")

    # watchdog pings at half of WATCHDOG_USEC, from the main loop
    first = notify.wait("WATCHDOG=1", after=ready)
    listen_until = time.monotonic() + 1.5
    while time.monotonic() < listen_until:
        notify.drain()  # keep reading, so each datagram is stamped when it arrives
    pings = [t for i, (t, m) in enumerate(notify.messages) if i >= first and m == "WATCHDOG=1"]
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert len(pings) >= 5, pings
    assert all(0.1 < g < 0.4 for g in gaps), gaps

    daemon.note("busy.txt", "Add a title")
    daemon.drop(sample_video, "busy.mp4")
    notify.wait("STATUS=1 running, 0 queued")

    # a good reload: RELOADING then READY, the new limit in force
    text = daemon.config.read_text().replace("[jobs]\n", "[jobs]\nmax_parallel = 3\n", 1)
    daemon.config.write_text(text)
    mark = len(notify.drain())
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    reloading = notify.wait("RELOADING=1", after=mark)
    assert "MONOTONIC_USEC=" in notify.messages[reloading][1]
    notify.wait("READY=1", after=reloading)
    wait_for(lambda: "configuration reloaded (3 job(s) at once)" in daemon.log_text(), 10)

    # a bad reload is rejected with its reasons; the old configuration stays
    daemon.config.write_text(text.replace("max_parallel = 3", 'max_parallel = "many"'))
    mark = len(notify.drain())
    daemon.proc.send_signal(signal.SIGHUP)
    notify.wait("READY=1", after=notify.wait("RELOADING=1", after=mark))
    wait_for(lambda: "reload rejected" in daemon.log_text(), 10)
    assert "jobs.max_parallel" in daemon.log_text()

    wait_for(daemon.outputs, 30, "the job to be delivered after the reloads")
    mark = len(notify.drain())
    assert daemon.stop() == 0
    notify.wait("STOPPING=1", after=mark, timeout=2)


def test_under_journald_lines_carry_priorities_and_no_timestamps(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(logging={"level": "INFO"})
    daemon.start(env={"JOURNAL_STREAM": "8:12345"})
    wait_for(lambda: "watching" in daemon.log_text(), 10)
    assert daemon.stop() == 0
    lines = [line for line in daemon.log_text().splitlines() if "nemowatch" in line]
    assert lines and all(line.startswith(("<6>", "<4>", "<3>", "<7>")) for line in lines), lines
    assert not any(line[3:7].isdigit() for line in lines), "no timestamps: journald adds them"
