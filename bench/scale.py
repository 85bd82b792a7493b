"""Scale: many pairs dropped at once into the inbox of a real `nemowatch run`.

    python -m bench.scale [--pairs 100 1000] [--parallel 8] [--settle 1] [--interval 0]
    python -m bench.scale --quick

Each size gets its own emulator (zero delays) and daemon. Reports the wall
time from the first drop until every pair is delivered, the daemon's CPU
seconds per job (/proc/PID/stat, first drop to last delivery), its peak RSS
and open descriptors (sampled from /proc every 20 ms), and whether every job
was delivered exactly once: every output present once, nothing failed, and
the emulator saw one upload, one edit turn and one render per pair.

Milliseconds of CPU differ more than twice between machines, so each run
also measures its floor: a bare `httpx` client (`bench.bare_client`: no
watching, no journal) makes the same API calls per job against the same
emulator, as many jobs, as many at a time, once just before the daemon starts
and once after it has stopped. The daemon's CPU per job is reported as a
multiple of the mean of the two, so that the machine's speed drifting during
the run moves the daemon and its floor alike. (The run before the daemon uses
the calls per job of the size's previous run, or `FIRST_PLAN`; it counts only
if the daemon then made those calls.)
`--interval` spaces the drops instead (then the close-to-upload figures in
the JSON measure detection alone).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    Row,
    Sampler,
    cpu_times,
    percentile,
    print_table,
    save,
    uploads_by_name,
    verdict,
)
from devkit.daemon import FAST_EXPORT, running_daemon
from devkit.drops import drop_pair, fake_mp4
from devkit.emulator import ZERO_DELAYS, emulator_process

REPO = Path(__file__).resolve().parent.parent
TARGET_CPU_MS = 30.0
#: the daemon's CPU per job, as a multiple of the bare client's
TARGET_CPU_RATIO = 2.0
#: "flat in the number of queued jobs": the largest size's peak within 20 % of the smallest's
FLAT_RATIO = 1.2
#: the calls per job the floor run before a size's first daemon run makes (the
#: daemon's, as its emulator journal counts them, when this was written)
FIRST_PLAN = {"state": 2.0, "credits": 2.0, "claim_token": 1.0}


def run_size(
    root: Path, pairs: int, args: argparse.Namespace, plan: dict[str, float]
) -> dict[str, Any]:
    """One emulator, one daemon, `pairs` pairs, its floor measured before and after
    (the run before with the calls per job of `plan`); the figures of that size."""
    # On ext4 without a journal (this project's machines), a new file skips every inode
    # deleted in the last minute, and in the last six while the block of the inode table
    # is not written back: a test run or the last benchmark's clean-up made the next
    # daemon pay per file it creates. (Users' ext4 has a journal and never checks.)
    os.sync()
    root.mkdir(parents=True)
    clip = root / "clip.mp4"
    fake_mp4(clip, args.clip_kb * 1024)
    with emulator_process(root / "emu", *ZERO_DELAYS) as emulator:
        control = emulator.control
        before = bare_client(emulator.url, clip, pairs, args.parallel, plan, root / "bare0")
        floor_renders = {r["id"] for r in control.renders()}
        control.clear_journal()
        with (
            running_daemon(
                root / "nw",
                emulator,
                watch={"settle_seconds": args.settle, "rescan_seconds": 60},
                jobs={"max_parallel": args.parallel, "max_parallel_uploads": args.parallel},
                export=FAST_EXPORT,
            ) as daemon,
            Sampler(daemon.pid) as sampler,
        ):
            times_before = cpu_times(daemon.pid)
            closed: dict[str, float] = {}
            started = time.time()
            for i in range(pairs):
                name = f"clip{i:04d}"
                closed[f"{name}.mp4"] = drop_pair(daemon.inbox, name, clip)
                if args.interval:
                    time.sleep(args.interval)
            daemon.wait_for(
                lambda: len(daemon.outputs()) >= pairs or daemon.failures(),
                args.timeout,
                f"{pairs} deliveries",
                step=0.1,
            )
            wall = time.time() - started
            times = [b - a for a, b in zip(times_before, cpu_times(daemon.pid), strict=True)]
            cpu = sum(times)
            journal = control.journal()
            renders = {r["id"] for r in control.renders()} - floor_renders
            outputs = sorted(p.name for p in daemon.outputs())
            failures = daemon.failures()
        # the daemon has stopped: its floor runs alone, against the same emulator
        calls = calls_per_job(journal, pairs)
        control.clear_journal()
        after = bare_client(emulator.url, clip, pairs, args.parallel, calls, root / "bare1")
        bare_calls = calls_per_job(control.journal(), pairs)
    uploads = [r for r in journal if r["endpoint"] == "upload"]
    turns = [r for r in journal if r["endpoint"] == "run_sse"]
    floors = [after] if bare_plan(plan) != bare_plan(calls) else [before, after]
    bare_ms = 1000 * statistics.mean(f["cpu_seconds"] for f in floors) / pairs
    by_name = uploads_by_name(uploads)
    delays = [by_name[n]["first_byte_at"] - t for n, t in closed.items() if n in by_name]
    once = (
        outputs == sorted(closed)
        and not failures
        and len(uploads) == len(turns) == len(renders) == pairs
    )
    return {
        "pairs": pairs,
        "wall_seconds": round(wall, 1),
        "daemon_cpu_seconds": round(cpu, 2),
        "daemon_cpu_ms_per_job": round(1000 * cpu / pairs, 1),
        "daemon_system_cpu_ms_per_job": round(1000 * times[1] / pairs, 1),
        "bare_client_cpu_ms_per_job": round(bare_ms, 2),
        "bare_client_cpu_ms_per_job_before_after": [
            round(1000 * f["cpu_seconds"] / pairs, 2) for f in (before, after)
        ],
        "bare_client_runs_counted": len(floors),
        "bare_client_wall_seconds": after["wall_seconds"],
        "cpu_ratio_to_bare_client": round(1000 * cpu / pairs / bare_ms, 2),
        "calls_per_job": {"daemon": calls, "bare_client": bare_calls},
        "daemon_peak_rss_mb": round(sampler.peak_rss_mb(), 1),
        "daemon_peak_open_fds": sampler.peak_fds(),
        "every_job_delivered_once": once,
        "delivered": len(outputs),
        "failed": len(failures),
        "uploads": len(uploads),
        "edit_turns": len(turns),
        "renders": len(renders),
        "close_to_upload_median_s": round(statistics.median(delays), 3),
        "close_to_upload_p95_s": round(percentile(delays, 95), 3),
    }


def calls_per_job(journal: Sequence[dict[str, Any]], pairs: int) -> dict[str, float]:
    """The API calls in the emulator's journal per job, by endpoint."""
    counts = Counter(r["endpoint"] for r in journal if r["endpoint"])
    return {endpoint: round(n / pairs, 2) for endpoint, n in sorted(counts.items())}


def bare_client(
    url: str, clip: Path, pairs: int, parallel: int, calls: dict[str, float], out: Path
) -> dict[str, Any]:
    """Run `bench.bare_client` for `pairs` jobs, repeating the reads the daemon made per
    job (`calls`, from its journal); the client's figures (its CPU from first call to last).

    Its downloads go to `out`, removed with everything else at the end: on this
    machine's ext4 (no journal) a file made in the minutes after many were removed
    costs the kernel more, so no run pays for the clean-up of the run before it."""
    args = [sys.executable, "-m", "bench.bare_client", url, str(clip), "--jobs", str(pairs)]
    args += ["--parallel", str(parallel), "--out", str(out)]
    args += [f"{k}={v}" for k, v in bare_plan(calls).items()]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the bare client failed: {done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def bare_plan(calls: dict[str, float]) -> dict[str, int]:
    """The bare client's options that repeat the reads of `calls` (calls per job)."""
    return {
        "--state-reads": max(1, round(calls.get("state", 1))),
        "--credit-checks": round(calls.get("credits", 0)),
        "--claims": round(calls.get("claim_token", 0)),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's figures: the run with the median CPU per job, with every run's CPU
    beside it; peaks are the highest of all runs, and "exactly once" must hold in each."""
    cpu = [r["daemon_cpu_ms_per_job"] for r in runs]
    median = dict(sorted(runs, key=lambda r: r["daemon_cpu_ms_per_job"])[len(runs) // 2])
    median.update(
        daemon_cpu_ms_per_job_runs=cpu,
        cpu_ratio_to_bare_client_runs=[r["cpu_ratio_to_bare_client"] for r in runs],
        daemon_peak_rss_mb=max(r["daemon_peak_rss_mb"] for r in runs),
        daemon_peak_open_fds=max(r["daemon_peak_open_fds"] for r in runs),
        every_job_delivered_once=all(r["every_job_delivered_once"] for r in runs),
        runs=len(runs),
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--parallel", type=int, default=8, help="jobs.max_parallel")
    parser.add_argument("--settle", type=float, default=1.0, help="watch.settle_seconds")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between drops (0: all at once; spaced drops measure detection alone)",
    )
    parser.add_argument("--clip-kb", type=int, default=200, help="size of each clip")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait per size")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per size (the median CPU run is shown)"
    )
    parser.add_argument("--quick", action="store_true", help="5 and 10 pairs (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.settle, args.clip_kb, args.repeat = [5, 10], 0.3, 16, 1

    sizes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nemowatch-scale-") as tmp:
        for pairs in args.pairs:
            plan, runs = FIRST_PLAN, []
            for i in range(args.repeat):
                runs.append(run_size(Path(tmp) / f"n{pairs}-{i}", pairs, args, plan))
                plan = runs[-1]["calls_per_job"]["daemon"]
            sizes.append(summarize(runs))

    small, big = sizes[0], sizes[-1]
    rss_ratio = big["daemon_peak_rss_mb"] / small["daemon_peak_rss_mb"]
    fds_ratio = big["daemon_peak_open_fds"] / small["daemon_peak_open_fds"]
    figures: dict[str, Any] = {
        "max_parallel": args.parallel,
        "settle_seconds": args.settle,
        "interval_seconds": args.interval,
        "sizes": sizes,
        "rss_ratio": round(rss_ratio, 2),
        "fds_ratio": round(fds_ratio, 2),
        "cpu_ratio_to_bare_client": max(s["cpu_ratio_to_bare_client"] for s in sizes),
        "pass_cpu": all(s["daemon_cpu_ms_per_job"] < TARGET_CPU_MS for s in sizes),
        "pass_ratio": all(s["cpu_ratio_to_bare_client"] <= TARGET_CPU_RATIO for s in sizes),
        "pass_flat": rss_ratio <= FLAT_RATIO and fds_ratio <= FLAT_RATIO,
        "pass_once": all(s["every_job_delivered_once"] for s in sizes),
    }
    rows: list[Row] = []
    for s in sizes:
        n = f"{s['pairs']:,} pairs"
        rows += [
            Row(f"{n}: wall time to all delivered", f"{s['wall_seconds']:.1f} s"),
            Row(
                f"{n}: daemon CPU per job" + (f", median of {s['runs']}" if s["runs"] > 1 else ""),
                f"{s['daemon_cpu_ms_per_job']:.1f} ms"
                + (
                    f" ({min(s['daemon_cpu_ms_per_job_runs']):.1f}-"
                    f"{max(s['daemon_cpu_ms_per_job_runs']):.1f})"
                    if s["runs"] > 1
                    else ""
                ),
                f"< {TARGET_CPU_MS:g} ms",
                result=verdict(s["daemon_cpu_ms_per_job"] < TARGET_CPU_MS),
            ),
            Row(
                f"{n}: bare httpx client CPU per job, before/after the daemon",
                f"{s['bare_client_cpu_ms_per_job']:.1f} ms ("
                + "/".join(f"{ms:.1f}" for ms in s["bare_client_cpu_ms_per_job_before_after"])
                + ("" if s["bare_client_runs_counted"] == 2 else ", after only")
                + ")",
            ),
            Row(
                f"{n}: daemon CPU per job / bare client's",
                f"x{s['cpu_ratio_to_bare_client']:.2f}"
                + (
                    f" (x{min(s['cpu_ratio_to_bare_client_runs']):.2f}-"
                    f"x{max(s['cpu_ratio_to_bare_client_runs']):.2f})"
                    if s["runs"] > 1
                    else ""
                ),
                f"<= x{TARGET_CPU_RATIO:g}",
                result=verdict(s["cpu_ratio_to_bare_client"] <= TARGET_CPU_RATIO),
            ),
            Row(f"{n}: peak RSS", f"{s['daemon_peak_rss_mb']:.1f} MB"),
            Row(f"{n}: peak open descriptors", str(s["daemon_peak_open_fds"])),
            Row(
                f"{n}: every job delivered exactly once",
                "yes" if s["every_job_delivered_once"] else "NO",
                "yes",
                result=verdict(s["every_job_delivered_once"]),
            ),
        ]
    if len(sizes) > 1:
        rows.append(
            Row(
                f"peak RSS, {big['pairs']:,} / {small['pairs']:,} pairs",
                f"x{rss_ratio:.2f}",
                f"flat (<= x{FLAT_RATIO:g})",
                result=verdict(rss_ratio <= FLAT_RATIO),
            )
        )
        rows.append(
            Row(
                f"peak descriptors, {big['pairs']:,} / {small['pairs']:,} pairs",
                f"x{fds_ratio:.2f}",
                f"flat (<= x{FLAT_RATIO:g})",
                result=verdict(fds_ratio <= FLAT_RATIO),
            )
        )
    how = f"{args.interval:g} s apart" if args.interval else "at once"
    print_table(
        f"scale: pairs dropped {how}, jobs.max_parallel {args.parallel}, emulator with zero delays",
        rows,
    )
    print(f"figures written to {save('scale', figures)}")


if __name__ == "__main__":
    main()
