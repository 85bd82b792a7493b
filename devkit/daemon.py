"""A real `nemowatch run` process: its folders, its config file, start, stop and kill.

The config holds what every run needs (folders under `root`, the emulator's
URL, a client id file), then a preset (`TEST_SETTINGS`: every wait short, DEBUG
logs; `BENCH_SETTINGS`: the defaults, no credit floor, WARNING logs), then the
per-run `overrides`, which add or replace keys per section, e.g.
`watch={"settle_seconds": 0.5}`.

A started daemon is watched by `devkit.waits`: a wait fails early, with the
tail of its log, if it exits while nobody stopped it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from devkit import waits
from devkit.drops import NOTE, drop_file, drop_pair, write_note
from devkit.emulator import Emulator
from devkit.forkserver import Forked, ForkServer
from devkit.processes import clean_env, stop_process

T = TypeVar("T")

#: the checkout (devkit is not installed: a child process finds it on PYTHONPATH)
REPO = Path(__file__).resolve().parent.parent

Settings = Mapping[str, Mapping[str, Any]]

#: set by the test suite (`use_fork_server`): daemons and commands are forked from it
_fork_server: ForkServer | None = None


def use_fork_server(server: ForkServer | None) -> None:
    """Start daemons and run commands from `server` (tests), or as new processes (None:
    benchmarks, which measure a daemon's whole CPU)."""
    global _fork_server
    _fork_server = server


#: a folder: each daemon runs under `py-spy record`, its collapsed stacks written there
PROFILE_ENV = "BENCH_PROFILE"

#: short waits everywhere, so that tests run fast; DEBUG logs to read on failure
TEST_SETTINGS: Settings = {
    "watch": {"settle_seconds": 0.3, "rescan_seconds": 1, "pair_wait_seconds": 1},
    "api": {
        "recovery_first_wait_seconds": 0.3,
        "recovery_wait_seconds": 0.3,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "rate_limit_seconds": 0.2,
        "sse_idle_timeout_seconds": 5,
    },
    # the tests drop one sample video with one text under many names: the duplicate guard
    # is off but where a test turns it on (tests/e2e/test_cost.py)
    "jobs": {"credit_check_minutes": 0.01, "stop_grace_seconds": 5, "duplicate_days": 0},
    "export": {
        "poll_first_seconds": 0.1,
        "poll_max_seconds": 0.3,
        "state_settle_seconds": 0.3,
        "timeout_seconds": 60,
    },
    "logging": {"level": "DEBUG"},
    "web": {"listen": ""},  # daemons side by side: a test that wants the page picks a port
}
#: the defaults but for the credit floor: what the benchmarks measure
BENCH_SETTINGS: Settings = {
    "jobs": {"min_credits": 0, "duplicate_days": 0},  # one clip, dropped many times
    "logging": {"level": "WARNING"},
    "web": {"listen": ""},
}
#: `[export]` settings for benchmarks that do not measure export polling
FAST_EXPORT = {"poll_first_seconds": 0.05, "poll_max_seconds": 0.2, "state_settle_seconds": 0}


class Daemon:
    """Folders under `root`, a config file and a `nemowatch run` process."""

    def __init__(
        self,
        root: Path,
        emulator: Emulator,
        preset: Settings = BENCH_SETTINGS,
        *,
        note_text: str = NOTE,
        **overrides: dict[str, Any],
    ) -> None:
        self.root = root
        self.emulator = emulator
        self.note_text = note_text
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
            "api": {"base_url": emulator.url, "client_id_file": str(root / "client_id")},
        }
        for layer in (preset, overrides):
            for section, values in layer.items():
                settings.setdefault(section, {}).update(values)
        self.settings = settings
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.config.write_text(tomli_w.dumps(settings))
        self.proc: subprocess.Popen[bytes] | Forked | None = None
        self.started_at = 0.0

    # -- the process ------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the daemon is not started"
        return self.proc.pid

    def start(
        self, env: dict[str, str] | None = None, *, wait: bool = True, crash: str | None = None
    ) -> Daemon:
        """Start `nemowatch run` with a clean environment (no NEMO* variables) plus `env`;
        with `wait`, return once it has written its first status file (after the startup
        scan). `crash`: killed at that point (see `devkit.crash`)."""
        module, args = "nemowatch", ["--config", str(self.config), "run"]
        if crash is not None:
            module, args = "devkit.crash", [crash, "--", *args]
            env = {**(env or {}), "PYTHONPATH": str(REPO)}
        profile = os.environ.get(PROFILE_ENV)
        with self.log.open("ab") as log:
            self.started_at = time.monotonic()
            if _fork_server is not None and not profile:
                self.proc = _fork_server.spawn(module, args, clean_env(env), stdout=log.fileno())
            else:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", module, *args],
                    stdout=log,
                    stderr=log,
                    env=clean_env(env),
                )
        waits.watch(self)
        if profile:
            self._profile(Path(profile))
        if wait:
            self.wait_started()
        return self

    def _profile(self, folder: Path) -> None:
        """A CPU profile of the daemon (py-spy, collapsed stacks); it ends with the daemon.
        Sampling costs the daemon CPU too: figures of a profiled run are not quoted."""
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"daemon-{self.pid}.txt"
        record = ["py-spy", "record", "--pid", str(self.pid), "--gil", "--format", "raw"]
        subprocess.Popen(
            [*record, "--rate", "200", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_started(self, timeout: float = 30) -> None:
        """Until this daemon has written its first status file (after the startup scan);
        one left by an earlier run names another pid."""
        status = self.state / "status.json"

        def started() -> bool:
            return status.exists() and self.status().get("pid") == self.pid

        self.wait_for(started, timeout, "the daemon to start")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (a normal stop), SIGKILL after `timeout`; the exit code (0 if not running)."""
        waits.unwatch(self)
        if self.proc is None:
            return 0
        code = stop_process(self.proc, timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        waits.unwatch(self)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    close = kill

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> bool:
        """Started, not stopped, and no longer running (see `devkit.waits.Watched`)."""
        return self.proc is not None and self.proc.poll() is not None

    def describe(self) -> str:
        if self.proc is None:
            state = "not running"
        elif self.proc.poll() is None:
            state = f"pid {self.proc.pid}, running"
        else:
            state = f"pid {self.proc.pid}, exited with code {self.proc.returncode}"
        return f"the daemon in {self.root} ({state}); the end of {self.log}:\n{self.log_tail()}"

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 30,
        what: str = "condition",
        step: float = 0.02,
    ) -> T:
        """`devkit.waits.wait_for`: fails early if this daemon (or another running one) exits."""
        return waits.wait_for(predicate, timeout, what, step)

    # -- dropping work ---------------------------------------------------------

    def drop(self, source: Path, name: str | None = None, folder: Path | None = None) -> Path:
        """Copy a file in like `cp`: written under its final name, then closed."""
        return drop_file(source, (folder or self.inbox) / (name or source.name))

    def note(self, name: str, text: str | bytes, folder: Path | None = None) -> Path:
        return write_note((folder or self.inbox) / name, text)

    def drop_pair(
        self, clip: Path, name: str = "job", text: str | None = None, how: str = "cp"
    ) -> float:
        """`name.txt` (`text`, by default `note_text`) then `name.mp4`; see `drops.drop_pair`."""
        return drop_pair(self.inbox, name, clip, how, text=self.note_text if text is None else text)

    # -- reading results ----------------------------------------------------

    def outputs(self) -> list[Path]:
        return sorted(self.outbox.glob("*.mp4")) if self.outbox.is_dir() else []

    def failures(self) -> list[Path]:
        """The failed jobs' folders (not one still being filled under a hidden name)."""
        from nemowatch.jobs.results import shown_entries

        return sorted(shown_entries(self.failed))

    def error_of(self, name: str) -> str:
        return (self.failed / name / "error.txt").read_text(encoding="utf-8")

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.state / "status.json").read_text()))

    def history(self) -> list[dict[str, Any]]:
        """The daemon's history as `nemowatch history --json` lists it, newest first, read
        here (a wait loop of commands would start a Python process per look)."""
        from nemowatch.history import History

        history = History.existing(self.state)
        if history is None:
            return []
        with history:
            return [entry.to_json() for entry in history.jobs()]

    def calls(self, endpoint: str) -> list[dict[str, Any]]:
        """The emulator's journal records of `endpoint`."""
        return self.emulator.control.journal(endpoint=endpoint)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

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
        if _fork_server is not None:
            return _fork_server.run(
                "nemowatch", ["--config", str(self.config), *args], clean_env(), timeout
            )
        return subprocess.run(
            [sys.executable, "-m", "nemowatch", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_env(),
            check=False,
        )


def unwrap(text: str) -> str:
    """`nemowatch status` as one line per item: its long lines are wrapped at 80
    columns with continuations indented by four more spaces than any item."""
    return re.sub(r"\n {4,}", " ", text)


def header(record: dict[str, Any], name: str) -> str | None:
    """A request header of a journal record, looked up case-insensitively."""
    wanted = name.lower()
    return next((v for k, v in record["headers"].items() if k.lower() == wanted), None)


@contextmanager
def running_daemon(
    root: Path,
    emulator: Emulator,
    preset: Settings = BENCH_SETTINGS,
    *,
    env: dict[str, str] | None = None,
    **overrides: dict[str, Any],
) -> Iterator[Daemon]:
    """A started daemon (see `Daemon`), stopped on the way out, also on errors."""
    daemon = Daemon(root, emulator, preset, **overrides)
    try:
        yield daemon.start(env)
    finally:
        daemon.stop(timeout=60)
