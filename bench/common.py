"""Helpers shared by the benchmarks: /proc sampling, CPU seconds, journal reading,
the printed table and the JSON figures.

Every benchmark runs the real `nemowatch run` process against `nemowatch
emulator` on loopback, both children of the benchmark, both stopped on the way
out (also on errors): `devkit.daemon` and `devkit.emulator`, the kit the tests
use too. Times compared with the emulator's journal are wall-clock
`time.time()`: both processes read the same clock.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devkit.drops import FTYP

RESULTS = Path(__file__).resolve().parent / "results"
#: where `save()` writes instead of bench/results (the smoke tests use it)
RESULTS_ENV = "BENCH_RESULTS_DIR"


# -- the API, for tools that are not nemowatch ---------------------------------


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


#: the skill headers of tools that are not nemowatch
SKILL_HEADERS = ["X-Skill-Source: bench", "X-Skill-Version: 0", "X-Skill-Platform: x"]


def curl_upload(url: str, token: str, session: str, path: Path, *extra: str) -> list[str]:
    """The `curl -F files=@FILE` command that uploads `path` into `session` on the
    emulator at `url`, printing its total time; `extra` options go before the form."""
    headers = [f"Authorization: Bearer {token}", *SKILL_HEADERS]
    return [
        *("curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}"),
        *(option for header in headers for option in ("-H", header)),
        *extra,
        *("-F", f"files=@{path}"),
        f"{url}/api/upload-video/nemo_agent/me/{session}",
    ]


def make_file(path: Path, mb: int) -> Path:
    """A file of `mb` MiB of random bytes, shaped like an MP4 (see `devkit.drops.fake_mp4`)."""
    block = os.urandom(1024 * 1024)
    with path.open("wb") as f:
        f.write(FTYP + block[len(FTYP) :])
        for _ in range(mb - 1):
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
