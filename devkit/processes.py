"""Child processes: pinning to a CPU, stopping with a grace time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from typing import Any

from devkit.forkserver import Forked


def pinned(cpu: int | None) -> list[str]:
    """The command prefix that runs a process (all its threads) on one CPU; [] if not asked
    for or not possible (one core, no `taskset`). `taskset` execs the command: same pid."""
    if cpu is None or (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def stop_process(proc: subprocess.Popen[Any] | Forked, timeout: float) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without NEMO* variables (none leaks into a child), plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("NEMO")}, **(extra or {})}
