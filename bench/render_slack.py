"""Render slack: from a render's completion to the daemon's download of it.

    python -m bench.render_slack [--jobs 20] [--min-render 5] [--max-render 60] [--quick]

Two daemons side by side, each against its own emulator: one with the
default adaptive polling, one with a fixed 30 s interval (the published
guidance: `export.poll_first_seconds = export.poll_max_seconds = 30`). Both
get the same jobs, with render times spread evenly over 5 to 60 s, in a
shuffled order.

How the spread is made: the emulator's `render_seconds` knob is global and
read when a render is submitted, so the pairs are dropped one at a time: set
the knob on both emulators, drop the pair into both inboxes, wait until both
emulators have that job's render, then the next. The renders then run
concurrently. The render times actually obtained (`completed_at` minus
`created_at`) are reported, so a knob that was read late would show.

Slack is the emulator's `completed_at` of a render to the `started_at` of the
daemon's first download request for it (`output` or `render_download`).
Polls per job per second: a job's `render_poll` requests over the time from
its submit to its download, averaged over the jobs. `export.state_settle_seconds`
is 0 and the other delays are small: only the polling is measured.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Row, print_table, save, verdict
from devkit.daemon import Daemon, running_daemon
from devkit.drops import drop_pair, fake_mp4
from devkit.emulator import ZERO_DELAYS, emulator_process
from nemowatch.emulator import EmulatorControl

TARGET_MEAN_SLACK_S, TARGET_POLLS_PER_S = 2.0, 0.5


@dataclass
class Variant:
    name: str
    export: dict[str, float]
    control: EmulatorControl | None = None
    daemon: Daemon | None = None


def measure(control: EmulatorControl) -> list[dict[str, float]]:
    """Per render: its time, the slack to its download, its polls per second."""
    journal = control.journal()
    figures = []
    for render in control.renders():
        rid = render["id"]
        if render["completed_at"] is None:
            raise RuntimeError(f"render {rid} never completed")
        downloads = [
            r["started_at"]
            for r in journal
            if r["endpoint"] in ("output", "render_download")
            and (f"/{rid}." in r["path"] or f"/{rid}/" in r["path"])
        ]
        polls = [r for r in journal if r["endpoint"] == "render_poll" and r["path"].endswith(rid)]
        fetched = min(downloads)
        figures.append(
            {
                "render_seconds": render["completed_at"] - render["created_at"],
                "slack_s": fetched - render["completed_at"],
                "polls": len(polls),
                "polls_per_s": len(polls) / (fetched - render["created_at"]),
            }
        )
    return figures


def summary(renders: list[dict[str, float]]) -> dict[str, Any]:
    slack = [r["slack_s"] for r in renders]
    return {
        "mean_slack_s": round(statistics.mean(slack), 2),
        "max_slack_s": round(max(slack), 2),
        "polls_per_job_per_s": round(statistics.mean(r["polls_per_s"] for r in renders), 3),
        "polls_per_job": round(statistics.mean(r["polls"] for r in renders), 1),
        "renders": [{k: round(v, 3) for k, v in r.items()} for r in renders],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--min-render", type=float, default=5.0, help="shortest render, s")
    parser.add_argument("--max-render", type=float, default=60.0, help="longest render, s")
    parser.add_argument("--fixed", type=float, default=30.0, help="the fixed poll interval, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2 short renders (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.min_render, args.max_render, args.fixed = 2, 0.5, 1.0, 1.0
    step = (args.max_render - args.min_render) / max(args.jobs - 1, 1)
    seconds = [args.min_render + k * step for k in range(args.jobs)]
    random.Random(args.seed).shuffle(seconds)

    variants = [
        Variant("default", {"state_settle_seconds": 0}),
        Variant(
            f"fixed {args.fixed:g} s",
            {
                "poll_first_seconds": args.fixed,
                "poll_max_seconds": args.fixed,
                "state_settle_seconds": 0,
            },
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="nemowatch-slack-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        clip = root / "clip.mp4"
        fake_mp4(clip, 64 * 1024, args.seed)
        for i, v in enumerate(variants):
            emulator = stack.enter_context(emulator_process(root / f"emu{i}", *ZERO_DELAYS))
            v.control = emulator.control
            v.daemon = stack.enter_context(
                running_daemon(
                    root / f"nw{i}",
                    emulator,
                    watch={"settle_seconds": 0.3},
                    jobs={"max_parallel": args.jobs, "max_parallel_uploads": args.jobs},
                    export=v.export,
                )
            )
        for k, render_seconds in enumerate(seconds):
            for v in variants:
                assert v.control is not None and v.daemon is not None
                v.control.set(render_seconds=render_seconds)
                drop_pair(v.daemon.inbox, f"job{k:02d}", clip)
            for v in variants:
                assert v.control is not None and v.daemon is not None
                control = v.control
                v.daemon.wait_for(
                    lambda c=control, n=k + 1: len(c.renders()) >= n, 60, f"render of job{k:02d}"
                )
        results: dict[str, dict[str, Any]] = {}
        for v in variants:
            assert v.control is not None and v.daemon is not None
            daemon = v.daemon
            daemon.wait_for(
                lambda d=daemon: len(d.outputs()) >= args.jobs or d.failures(),
                args.max_render + 3 * args.fixed + 60,
                f"{args.jobs} deliveries ({v.name})",
                step=0.2,
            )
            if daemon.failures():
                raise RuntimeError(f"jobs failed ({v.name}): {daemon.failures()}")
            results[v.name] = summary(measure(v.control))

    default, fixed = results["default"], results[variants[1].name]
    obtained = [r["render_seconds"] for r in default["renders"] + fixed["renders"]]
    figures = {
        "jobs": args.jobs,
        "render_seconds_asked": [round(s, 2) for s in sorted(seconds)],
        "render_seconds_obtained_min": round(min(obtained), 2),
        "render_seconds_obtained_max": round(max(obtained), 2),
        "default": default,
        "fixed": fixed,
        "fixed_interval_seconds": args.fixed,
        "pass_slack": default["mean_slack_s"] < TARGET_MEAN_SLACK_S,
        "pass_polls": default["polls_per_job_per_s"] <= TARGET_POLLS_PER_S,
    }
    print_table(
        f"render slack: {args.jobs} renders of {min(obtained):.1f} to {max(obtained):.1f} s, "
        f"default polling vs fixed {args.fixed:g} s (reference)",
        [
            Row(
                "mean slack",
                f"{default['mean_slack_s']:.2f} s",
                f"< {TARGET_MEAN_SLACK_S:g} s",
                f"{fixed['mean_slack_s']:.2f} s",
                verdict(figures["pass_slack"]),
            ),
            Row(
                "max slack",
                f"{default['max_slack_s']:.2f} s",
                reference=f"{fixed['max_slack_s']:.2f} s",
            ),
            Row(
                "polls per job per second",
                f"{default['polls_per_job_per_s']:.3f}",
                f"<= {TARGET_POLLS_PER_S:g}",
                f"{fixed['polls_per_job_per_s']:.3f}",
                verdict(figures["pass_polls"]),
            ),
            Row(
                "polls per job",
                f"{default['polls_per_job']:.1f}",
                reference=f"{fixed['polls_per_job']:.1f}",
            ),
        ],
    )
    print(f"figures written to {save('render_slack', figures)}")


if __name__ == "__main__":
    main()
