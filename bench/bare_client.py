"""The floor of the scale benchmark: a bare `httpx` client making a job's API calls.

    python -m bench.bare_client URL CLIP --jobs N [--parallel 8] [--state-reads 2] ...

No watching, no journal, no retries, no nemowatch code: per job the calls the
daemon makes (see `Plan`), `--parallel` jobs at a time on one asyncio loop, as
the daemon runs them. Prints one JSON line: the CPU seconds this process spent
from its first call to its last (user and system, all threads), and the wall
time. Run by `bench.scale` against the emulator its daemon used, so that the
daemon's CPU per job can be given as a multiple of this one's, a figure that
survives a change of machine better than milliseconds do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

APP = "nemo_agent"
HEADERS = {"X-Skill-Source": "bench", "X-Skill-Version": "0", "X-Skill-Platform": "bench"}


@dataclass(frozen=True)
class Plan:
    """The calls of one job, after the anonymous token (fetched once for all jobs):
    create session, upload, `credit_checks` credit reads, a state read, the run_sse
    turn read to its end, `state_reads - 1` more state reads, render submit, render
    polls until completed, the download from `output.url`, `claims` claim tokens."""

    state_reads: int = 2
    credit_checks: int = 1
    claims: int = 1
    poll_seconds: float = 0.05


def data(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    body = response.json()
    if body.get("code") not in (0, None):
        raise RuntimeError(f"{response.request.url.path}: {body}")
    found: dict[str, Any] = body.get("data") or {}
    return found


def render_state(body: dict[str, Any]) -> tuple[str, str | None]:
    """The render's status and its output URL, wherever the answer puts them."""
    places = [body, *(v for v in body.values() if isinstance(v, dict))]
    status = next((p["status"] for p in places if isinstance(p.get("status"), str)), "")
    url = next((p["output"]["url"] for p in places if isinstance(p.get("output"), dict)), None)
    return status.lower(), url


async def job(
    http: httpx.AsyncClient, auth: dict[str, str], clip: Path, name: str, out: Path, plan: Plan
) -> None:
    session = data(
        await http.post(
            f"/api/tasks/me/with-session/{APP}",
            json={"task_name": "project", "language": "en"},
            headers=auth,
        )
    )
    sid = session["session_id"]
    with clip.open("rb") as f:
        data(
            await http.post(
                f"/api/upload-video/{APP}/me/{sid}",
                files={"files": (f"{name}.mp4", f, "video/mp4")},
                headers=auth,
            )
        )
    for _ in range(plan.credit_checks):
        data(await http.get("/api/credits/balance/simple", headers=auth))
    state_path = f"/api/state/{APP}/me/{sid}/latest"
    state = data(await http.get(state_path, headers=auth))
    turn = {
        "app_name": APP,
        "user_id": "me",
        "session_id": sid,
        "new_message": {"parts": [{"text": "Add a title"}]},
    }
    async with http.stream("POST", "/run_sse", json=turn, headers=auth) as stream:
        stream.raise_for_status()
        async for _ in stream.aiter_lines():
            pass
    for _ in range(plan.state_reads - 1):
        state = data(await http.get(state_path, headers=auth))
    render_id = f"render_{uuid.uuid4().hex}"
    submit = {
        "id": render_id,
        "sessionId": sid,
        "draft": state["state"]["draft"],
        "output": {"format": "mp4", "quality": "high"},
    }
    data(await http.post("/api/render/proxy/lambda", json=submit, headers=auth))
    while True:
        answer = await http.get(f"/api/render/proxy/lambda/{render_id}", headers=auth)
        answer.raise_for_status()
        status, url = render_state(answer.json())
        if status == "completed" and url:
            break
        if status == "failed":
            raise RuntimeError(f"render {render_id} failed: {answer.text}")
        await asyncio.sleep(plan.poll_seconds)
    async with http.stream("GET", url) as download:
        download.raise_for_status()
        with (out / f"{name}.mp4").open("wb") as f:
            async for chunk in download.aiter_bytes():
                f.write(chunk)
    for _ in range(plan.claims):
        claim = {"task_id": session["task_id"], "session_id": sid}
        data(await http.post("/api/auth/claim-token", json=claim, headers=auth))


async def run(
    url: str, clip: Path, jobs: int, parallel: int, out: Path, plan: Plan
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=120) as http:
        gate = asyncio.Semaphore(parallel)
        started, cpu, wall = os.times(), time.process_time(), time.perf_counter()
        client_id = {"X-Client-Id": str(uuid.uuid4())}
        token = data(await http.post("/api/auth/anonymous-token", headers=client_id))["token"]
        auth = {"Authorization": f"Bearer {token}"}

        async def one(i: int) -> None:
            async with gate:
                await job(http, auth, clip, f"bare{i:04d}", out, plan)

        await asyncio.gather(*(one(i) for i in range(jobs)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        ended = os.times()
    user, system = ended.user - started.user, ended.system - started.system  # in ticks
    return {
        "jobs": jobs,
        "cpu_seconds": round(cpu, 4),
        "user_seconds": round(user, 4),
        "system_seconds": round(system, 4),
        "wall_seconds": round(wall, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("clip", type=Path)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--state-reads", type=int, default=Plan.state_reads)
    parser.add_argument("--credit-checks", type=int, default=Plan.credit_checks)
    parser.add_argument("--claims", type=int, default=Plan.claims)
    parser.add_argument(
        "--out",
        type=Path,
        help="where the downloads go, left there (default: a temporary folder, removed)",
    )
    args = parser.parse_args()
    plan = Plan(max(args.state_reads, 1), args.credit_checks, args.claims)
    with contextlib.ExitStack() as stack:
        out = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        out.mkdir(parents=True, exist_ok=True)
        figures = asyncio.run(run(args.url, args.clip, args.jobs, args.parallel, out, plan))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
