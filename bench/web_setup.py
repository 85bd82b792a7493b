"""The world `bench.web_page` measures: a history of many jobs, a logged-in client, a
failed job, and the reference server (Python's `http.server`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devkit.daemon import Daemon
from devkit.drops import fake_mp4
from devkit.processes import stop_process
from nemowatch.history import History
from nemowatch.jobs import events
from nemowatch.jobs.model import Failure, Job, Turn, TurnState

THEMES = ("holiday", "wedding", "interview", "lecture", "drone", "birthday", "demo", "podcast")


def fill_history(state: Path, outbox: Path, count: int) -> str:
    """`count` finished jobs in the history of `state`; the newest is delivered with its
    video and report in `outbox`. Returns that job's id."""
    now, showcase = time.time(), ""
    with History.in_state(state) as history:
        for i in range(count):
            theme = THEMES[i % len(THEMES)]
            name = f"{theme}-{i:05d}"
            ended = now - (count - i) * 600
            job = Job(
                id=f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(ended))}-{name}-{i:06x}",
                name=name,
                kind="pair",
                media=[f"{name}.mp4"],
                media_stat={f"{name}.mp4": (48_000_000 + i, 0)},
                turns=[
                    Turn(
                        text=f"Trim the silences of the {theme}, add a title and music",
                        state=TurnState.ANSWERED,
                        answer=f"Done: the {theme} is trimmed, titled and scored.",
                    )
                ],
                session_id=f"ses_{i}",
                render_id=f"rnd_{i}",
                created_at=ended - 95,
                reached={"claimed": ended - 95, "rendering": ended - 30, "done": ended},
            )
            history.record(_ending(job, i, count, outbox, ended))
            showcase = job.id
    video, report = outbox / f"{name}.mp4", outbox / f"{name}.report.txt"
    fake_mp4(video, 2 * 1024 * 1024, seed=1)
    report.write_text(f"{name}: delivered\nTrim the silences ...\nDone: trimmed.\n")
    return showcase


def _ending(job: Job, i: int, count: int, outbox: Path, at: float) -> events.JobEvent:
    if i % 12 == 11 and i != count - 1:
        job.failure = Failure(message="the render failed (code 5003)", stage="rendering", code=5003)
        return events.Failed.of(job, stage="rendering", message=job.failure.message, at=at)
    if i % 50 == 49 and i != count - 1:
        return events.Cancelled.of(job, stage="uploading", at=at)
    result, report = outbox / f"{job.name}.mp4", outbox / f"{job.name}.report.txt"
    return events.Delivered.of(job, result=str(result), report=str(report), at=at)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_in(http: httpx.Client, daemon: Daemon) -> str:
    """Log `http` in as a browser does; the page's CSRF token."""
    done = daemon.cli("web")
    if done.returncode != 0:
        raise RuntimeError(f"`nemowatch web` failed: {done.stderr}")
    landed = http.get(done.stdout.splitlines()[0])
    if landed.status_code != 303 or "nemowatch_session" not in http.cookies:
        raise RuntimeError(f"the login address did not log in: {landed.status_code}")
    home = http.get("/").text
    return home.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def login_address(daemon: Daemon) -> str:
    return daemon.cli("web").stdout.splitlines()[0]


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """Python's `http.server` (HTTP/1.1, keep-alive) serving `folder` on loopback."""
    args = [sys.executable, "-u", "-m", "http.server", "0", "-b", "127.0.0.1"]
    proc = subprocess.Popen(
        [*args, "-d", str(folder), "-p", "HTTP/1.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://...) ..."
        yield f"http://127.0.0.1:{int(line.split(' port ')[1].split()[0])}"
    finally:
        stop_process(proc, 10)


def make_failure(daemon: Daemon) -> str:
    """A real failed job (an empty video): its name in the failed folder."""
    daemon.note("broken.txt", "Add a title")
    (daemon.inbox / "broken.mp4").write_bytes(b"")
    failed = daemon.wait_for(daemon.failures, 60, "the empty video to fail")
    return failed[0].name


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
