"""Helpers shared by the benchmarks: the emulator as a child process, child rusage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def emulator_process(data_dir: Path, *knobs: str) -> Iterator[str]:
    """`nemowatch emulator` on a random loopback port; yields its URL, stops it after."""
    args = [sys.executable, "-m", "nemowatch.emulator", "--port", "0", "--data-dir", str(data_dir)]
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
            proc.terminate()
            proc.wait(timeout=30)


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


def make_file(path: Path, mb: int) -> Path:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as f:
        for _ in range(mb):
            f.write(block)
    return path


def save(name: str, figures: object) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path
