"""Helpers shared by the benchmarks: the emulator and the daemon as child processes,
/proc sampling, CPU seconds, journal reading, the printed table and the JSON figures.

Every benchmark runs the real `nemowatch run` process against `nemowatch
emulator` on loopback, both children of the benchmark, both stopped on the way
out (also on errors). Times compared with the emulator's journal are wall-clock
`time.time()`: both processes read the same clock.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import tomli_w

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results"
#: where `save()` writes instead of bench/results (the smoke tests use it)
RESULTS_ENV = "BENCH_RESULTS_DIR"
#: a folder: each daemon runs under `py-spy record`, its collapsed stacks written there
PROFILE_ENV = "BENCH_PROFILE"

#: emulator knobs for a pipeline that costs no time on the emulator's side
ZERO_DELAYS = (
    "turn_seconds=0",
    "heartbeat_seconds=0.05",
    "second_stage=false",
    "render_seconds=0",
    "transcode=false",
    "use_ffmpeg=false",
    "silent_share=0",
    "credits=100000000",
)
#: daemon `[export]` settings for benchmarks that do not measure export polling
FAST_EXPORT = {"poll_first_seconds": 0.05, "poll_max_seconds": 0.2, "state_settle_seconds": 0}


# -- the emulator -------------------------------------------------------------


def pinned(cpu: int | None) -> list[str]:
    """The command prefix that runs a process (all its threads) on one CPU; [] if not asked
    for or not possible (one core, no `taskset`). `taskset` execs the command: same pid."""
    if cpu is None or (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


@contextmanager
def emulator_process(data_dir: Path, *knobs: str, cpu: int | None = None) -> Iterator[str]:
    """`nemowatch emulator` on a random loopback port; yields its URL, stops it after.

    `cpu` pins it to that CPU (see `pinned`).
    """
    emulator = [sys.executable, "-m", "nemowatch.emulator", "--port", "0"]
    args = [*pinned(cpu), *emulator, "--data-dir", str(data_dir)]
    for knob in knobs:
        args += ["--set", knob]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "listening on " not in line:
                raise RuntimeError(f"emulator did not start: {line!r}")
            yield line.rsplit(" ", 1)[-1].strip()
        finally:
            _stop(proc, 30)


def anonymous_session(url: str) -> tuple[str, str]:
    """A token and a session id on the emulator, for tools that are not nemowatch."""
    with httpx.Client(base_url=url, timeout=30) as http:
        token = http.post(
            "/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())}
        ).json()["data"]["token"]
        session = http.post(
            "/api/tasks/me/with-session/nemo_agent",
            json={"task_name": "project", "language": "en"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["data"]["session_id"]
    return token, session


def _stop(proc: subprocess.Popen[Any], timeout: float) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


# -- the daemon ---------------------------------------------------------------


class DaemonProcess:
    """Folders under `root`, a config file and a `nemowatch run` process.

    The config holds what every benchmark needs (folders, the emulator's URL,
    a client id file, no credit floor, WARNING logs); `overrides` add or
    replace keys per section, e.g. `watch={"settle_seconds": 0.5}`.
    """

    def __init__(self, root: Path, url: str, **overrides: dict[str, Any]) -> None:
        self.root = root
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
            "api": {"base_url": url, "client_id_file": str(root / "client_id")},
            "jobs": {"min_credits": 0},
            "logging": {"level": "WARNING"},
        }
        for section, values in overrides.items():
            settings.setdefault(section, {}).update(values)
        self.settings = settings
        root.mkdir(parents=True, exist_ok=True)
        self.inbox.mkdir(exist_ok=True)
        self.config.write_text(tomli_w.dumps(settings))
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the daemon is not started"
        return self.proc.pid

    def start(self, env: dict[str, str] | None = None) -> None:
        """Start `nemowatch run` with a clean environment (no NEMO* variables) plus `env`."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("NEMO")}
        with self.log.open("ab") as log:
            self.started_at = time.monotonic()
            run = [sys.executable, "-m", "nemowatch", "--config", str(self.config), "run"]
            self.proc = subprocess.Popen(
                run,
                stdout=log,
                stderr=log,
                env={**clean, **(env or {})},
            )
        profile = os.environ.get(PROFILE_ENV)
        if profile:
            # A CPU profile of the daemon (py-spy, collapsed stacks): it ends with the daemon.
            # Sampling costs the daemon CPU too: figures of a profiled run are not quoted.
            Path(profile).mkdir(parents=True, exist_ok=True)
            out = Path(profile) / f"daemon-{self.proc.pid}.txt"
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(self.proc.pid),
                    "--gil",
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def wait_started(self, timeout: float = 30) -> None:
        """Until the daemon has written its first status file (after the startup scan)."""
        self.wait_for(lambda: (self.state / "status.json").exists(), timeout, "the daemon to start")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (a normal stop), SIGKILL after `timeout`; the exit code."""
        if self.proc is None:
            return 0
        code = _stop(self.proc, timeout)
        self.proc = None
        return code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for(
        self, predicate: Callable[[], T], timeout: float, what: str, every: float = 0.02
    ) -> T:
        """Poll `predicate` until it is truthy; fail early if the daemon has exited."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if not self.alive():
                raise RuntimeError(f"the daemon exited while waiting for {what}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout:g} s\n{self.log_tail()}")
            time.sleep(every)

    def outputs(self) -> list[Path]:
        return sorted(self.outbox.glob("*.mp4")) if self.outbox.is_dir() else []

    def failures(self) -> list[Path]:
        return sorted(self.failed.iterdir()) if self.failed.is_dir() else []

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def daemon_process(
    root: Path,
    url: str,
    *,
    env: dict[str, str] | None = None,
    **overrides: dict[str, Any],
) -> Iterator[DaemonProcess]:
    """A started daemon (see `DaemonProcess`), stopped on the way out, also on errors."""
    daemon = DaemonProcess(root, url, **overrides)
    daemon.start(env)
    try:
        yield daemon
    finally:
        daemon.stop()


# -- dropping work ------------------------------------------------------------


def drop_pair(inbox: Path, name: str, clip: Path, how: str = "cp") -> float:
    """`name.txt`, then `name.mp4` from `clip`, the way `how` says.

    `cp`: written under its name and closed; `rsync`: written as `name.mp4.part`
    and renamed; `link`: a hard link to `clip` (no copy, nothing left to
    write back, the same cached pages as `clip`). Returns the wall time at
    which the video was complete under its name.
    """
    (inbox / f"{name}.txt").write_text("Add a title")
    target = inbox / f"{name}.mp4"
    if how == "rsync":
        part = inbox / f"{name}.mp4.part"
        shutil.copyfile(clip, part)
        os.rename(part, target)
    elif how == "link":
        os.link(clip, target)
    elif how == "cp":
        shutil.copyfile(clip, target)
    else:
        raise ValueError(f"unknown way to drop a file: {how!r}")
    return time.time()


def make_file(path: Path, mb: int) -> Path:
    """A file of `mb` MiB of random bytes."""
    block = os.urandom(1024 * 1024)
    with path.open("wb") as f:
        for _ in range(mb):
            f.write(block)
    return path


# -- /proc --------------------------------------------------------------------


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a running process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a running process."""
    return sum(cpu_times(pid))


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory of a running process and its peak so far, in MiB (VmRSS, VmHWM).

    VmHWM starts again at exec, unlike the rusage `ru_maxrss` of a child, which
    also counts what the forked Python held before the exec.
    """
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {
        k: int(v.split()[0])
        for k, _, v in (ln.partition(":") for ln in status.splitlines())
        if k in ("VmRSS", "VmHWM")
    }
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def rss_mb(pid: int) -> float:
    """Resident memory of a running process in MiB (VmRSS)."""
    return memory_mb(pid)[0]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass(frozen=True)
class Sample:
    at: float  # wall time, comparable with the emulator's journal
    rss_mb: float
    hwm_mb: float  # the peak RSS of the process so far
    fds: int


@dataclass
class Sampler:
    """RSS and open descriptors of a process, read from /proc every `every` seconds.

    A context manager: sampling runs in a thread between enter and exit, and
    stops by itself when the process goes away.
    """

    pid: int
    every: float = 0.02
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            try:
                rss, hwm = memory_mb(self.pid)
                self.samples.append(Sample(time.time(), rss, hwm, open_fds(self.pid)))
            except (OSError, KeyError):  # gone, or a zombie without memory
                return
            if self._done.wait(self.every):
                return

    def within(self, start: float | None, end: float | None) -> list[Sample]:
        """The samples taken between `start` and `end`, plus the one on each side of them.

        The neighbours bracket the interval, so an interval shorter than the
        sampling period still has figures (those of the moments around it).
        """
        samples = list(self.samples)
        lo, hi = start or -math.inf, end or math.inf
        inside = [i for i, s in enumerate(samples) if lo <= s.at <= hi]
        before = [i for i, s in enumerate(samples) if s.at < lo][-1:]
        after = [i for i, s in enumerate(samples) if s.at > hi][:1]
        return [samples[i] for i in before + inside + after]

    def peak_rss_mb(self, start: float | None = None, end: float | None = None) -> float:
        return max((s.rss_mb for s in self.within(start, end)), default=0.0)

    def hwm_mb(self) -> float:
        """The process's own peak RSS, as last seen (VmHWM)."""
        return max((s.hwm_mb for s in self.samples), default=0.0)

    def peak_fds(self, start: float | None = None, end: float | None = None) -> int:
        return max((s.fds for s in self.within(start, end)), default=0)


# -- the notify socket --------------------------------------------------------


class NotifySocket:
    """The systemd side of `$NOTIFY_SOCKET`: a datagram socket that stamps each message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []

    def close(self) -> None:
        self.sock.close()

    def wait(self, fragment: str, timeout: float) -> float:
        """The monotonic time at which a message containing `fragment` arrived."""
        deadline = time.monotonic() + timeout
        for at, message in self.messages:
            if fragment in message:
                return at
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                break
            at = time.monotonic()
            self.messages.append((at, data.decode()))
            if fragment in data.decode():
                return at
        raise TimeoutError(f"no {fragment!r} on {self.path} within {timeout:g} s")


# -- the journal --------------------------------------------------------------


def uploads_by_name(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Upload journal records by the name of each file they carried (the last one wins)."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        for part in (record.get("body") or {}).get("files", []):
            if part.get("name"):
                found[part["name"]] = record
    return found


# -- a child measured to its end ----------------------------------------------


@dataclass
class ChildRun:
    seconds: float
    max_rss_mb: float
    stdout: str


def run_measured(args: Sequence[str], env: dict[str, str] | None = None) -> ChildRun:
    """Run a child to its end; its wall time and peak RSS (from wait4's rusage)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(args), stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} exited {proc.returncode}: {out}")
    return ChildRun(time.perf_counter() - started, usage.ru_maxrss / 1024, out)


# -- figures ------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (`q` in 0..100): a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass(frozen=True)
class Row:
    """One line of a benchmark's table."""

    figure: str
    value: str
    target: str = ""
    reference: str = ""
    result: str = ""


def print_table(title: str, rows: Sequence[Row]) -> str:
    """Print the table (figure, value, target, reference, PASS/MISS) and return its text."""
    head = Row("figure", "value", "target", "reference", "result")
    cells = [[r.figure, r.value, r.target, r.reference, r.result] for r in (head, *rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = [title]
    for i, c in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


def save(name: str, figures: object) -> Path:
    """Write the figures as bench/results/NAME.json (or under $BENCH_RESULTS_DIR).

    A dict of figures gets the machine they came from added as `machine`, and
    the code they measured as `source`.
    """
    folder = Path(os.environ.get(RESULTS_ENV) or RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    if isinstance(figures, dict):
        figures = {**figures, "machine": machine(), "source": source()}
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def machine() -> dict[str, Any]:
    """Where the figures came from: cores, CPU model, RAM, Python, date (UTC)."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if "model name" in ln]
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu": models[0] if models else "",
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def source() -> dict[str, Any]:
    """The commit measured, and any uncommitted change to the package on top of it."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    diff = git("diff", "HEAD", "--", "nemowatch")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "nemowatch_modified": git("diff", "HEAD", "--name-only", "--", "nemowatch").split(),
        "nemowatch_diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if diff else None,
    }
