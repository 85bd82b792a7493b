"""The test kit's fork server: a forked command behaves as one started with subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.forkserver import ForkServer
from devkit.waits import wait_for


def both(server: ForkServer, args: list[str], env: dict[str, str]) -> list[tuple[int, str, str]]:
    """The same command run both ways: (exit code, stdout, stderr) of each."""
    forked = server.run("nemowatch", args, env, timeout=30)
    real = subprocess.run(
        [sys.executable, "-m", "nemowatch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    return [(p.returncode, p.stdout, p.stderr) for p in (forked, real)]


def test_exit_code_output_and_folder_are_the_commands_own(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[watch]\nsettle_seconds = -1\n")
    forked, real = both(fork_server, ["--config", "bad.toml", "config", "show"], dict(os.environ))
    assert forked == real
    assert forked[0] == 2 and "settle_seconds" in forked[1] + forked[2]


def test_the_environment_is_the_callers(fork_server: ForkServer, tmp_path: Path) -> None:
    config = tmp_path / "elsewhere" / "nemowatch.toml"
    config.parent.mkdir()
    config.write_text("")
    env = {**os.environ, "NEMOWATCH_CONFIG": str(config)}
    forked, real = both(fork_server, ["config", "path"], env)
    assert forked == real
    assert forked[0] == 0 and str(config) in forked[1]


def test_umask_and_folder_are_the_callers(fork_server: ForkServer, tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    before = os.umask(0o077)
    try:
        with out.open("wb") as log:
            proc = fork_server.spawn(
                "nemowatch",
                ["--config", str(tmp_path / "none.toml"), "emulator", "--port", "0"],
                dict(os.environ),
                stdout=log.fileno(),
            )
    finally:
        os.umask(before)
    try:
        wait_for(lambda: "listening" in out.read_text(), 10, "the emulator to listen")
        status = Path(f"/proc/{proc.pid}/status")
        assert "Umask:\t0077" in status.read_text()
        assert Path(f"/proc/{proc.pid}/cwd").resolve() == tmp_path.resolve()
    finally:
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL
    assert proc.poll() == -signal.SIGKILL


def test_a_stopped_child_reports_its_code_and_leaves_nothing(fork_server: ForkServer) -> None:
    proc = fork_server.spawn(
        "nemowatch", ["emulator", "--port", "0"], dict(os.environ), stdout=sys.stderr.fileno()
    )
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert proc.pid not in fork_server.children()
