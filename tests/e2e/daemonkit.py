"""The end-to-end harness: a real `nemowatch run` process against the emulator.

Tests wait on conditions (files appearing, journal entries) with a deadline;
nothing sleeps and hopes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from waiting import wait_for

from nemowatch.emulator import EmulatorServer

__all__ = ["Daemon", "wait_for"]

T = TypeVar("T")

FAST_EMULATOR = {
    "turn_seconds": 0.3,
    "heartbeat_seconds": 0.05,
    "second_stage_delay_seconds": 0.2,
    "render_seconds": 0.4,
    "force_silent": False,
}


class Daemon:
    """Folders, a config file and a `nemowatch run` process (start, stop, kill)."""

    def __init__(self, root: Path, emulator: EmulatorServer, **overrides: dict[str, Any]) -> None:
        self.root = root
        self.emulator = emulator
        self.inbox, self.outbox, self.failed = root / "inbox", root / "outbox", root / "failed"
        self.state = root / "state"
        self.config = root / "nemowatch.toml"
        self.log = root / "daemon.log"
        settings: dict[str, dict[str, Any]] = {
            "folders": {
                "inbox": str(self.inbox),
                "outbox": str(self.outbox),
                "failed": str(self.failed),
                "state": str(self.state),
            },
            "watch": {"settle_seconds": 0.3, "rescan_seconds": 1, "pair_wait_seconds": 1},
            "api": {
                "base_url": emulator.url,
                "client_id_file": str(root / "client_id"),
                "recovery_first_wait_seconds": 0.3,
                "recovery_wait_seconds": 0.3,
                "retry_base_seconds": 0.05,
                "retry_max_seconds": 0.2,
                "rate_limit_seconds": 0.2,
                "sse_idle_timeout_seconds": 5,
            },
            "jobs": {"credit_check_minutes": 0.01, "stop_grace_seconds": 5},
            "export": {
                "poll_first_seconds": 0.1,
                "poll_max_seconds": 0.3,
                "state_settle_seconds": 0.3,
                "timeout_seconds": 60,
            },
            "logging": {"level": "DEBUG"},
        }
        for section, values in overrides.items():
            settings.setdefault(section, {}).update(values)
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.config.write_text(tomli_w.dumps(settings))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> Daemon:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("NEMO")}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nemowatch", "--config", str(self.config), "run"],
                stdout=log,
                stderr=log,
                env={**clean, **(env or {})},
            )
        wait_for(lambda: (self.state / "status.json").exists(), 20, "the daemon to start")
        return self

    def stop(self, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    # -- dropping work ---------------------------------------------------------

    def drop(self, source: Path, name: str | None = None, folder: Path | None = None) -> Path:
        """Copy a file in like `cp`: written under its final name, then closed."""
        target = (folder or self.inbox) / (name or source.name)
        shutil.copyfile(source, target)
        return target

    def note(self, name: str, text: str | bytes, folder: Path | None = None) -> Path:
        target = (folder or self.inbox) / name
        if isinstance(text, str):
            target.write_text(text, encoding="utf-8")
        else:
            target.write_bytes(text)
        return target

    # -- reading results ----------------------------------------------------

    def outputs(self) -> list[Path]:
        if not self.outbox.is_dir():
            return []
        return sorted(p for p in self.outbox.glob("*.mp4"))

    def failures(self) -> list[Path]:
        return sorted(p for p in self.failed.iterdir()) if self.failed.is_dir() else []

    def error_of(self, name: str) -> str:
        return (self.failed / name / "error.txt").read_text(encoding="utf-8")

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.state / "status.json").read_text()))

    def calls(self, endpoint: str) -> list[dict[str, Any]]:
        return self.emulator.control.journal(endpoint=endpoint)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    # -- the work folder and the commands -------------------------------------

    @property
    def work(self) -> Path:
        """The work folder (the default `<inbox>/.nemowatch`)."""
        return self.inbox / ".nemowatch"

    def work_jobs(self) -> list[dict[str, Any]]:
        """The journals (`job.json`) of the jobs in the work folder, oldest claim first."""
        if not self.work.is_dir():
            return []
        found = []
        for journal in sorted(self.work.glob("*/job.json")):
            try:
                found.append(dict(json.loads(journal.read_text())))
            except (OSError, ValueError):
                continue  # being rewritten or removed this instant: look again later
        return found

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run `nemowatch --config <this config> ARGS...` as a person would, output as text."""
        return subprocess.run(
            [sys.executable, "-m", "nemowatch", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={k: v for k, v in os.environ.items() if not k.startswith("NEMO")},
            check=False,
        )


def header(record: dict[str, Any], name: str) -> str | None:
    """A request header of a journal record, looked up case-insensitively."""
    wanted = name.lower()
    return next((v for k, v in record["headers"].items() if k.lower() == wanted), None)
