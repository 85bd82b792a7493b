"""Every benchmark runs at a tiny size (`--quick`) and writes the figures it promises.

Each runs as `python -m bench.NAME --quick` from the checkout, with its JSON
sent to a temporary folder (`$BENCH_RESULTS_DIR`) so the real figures in
bench/results stay as they are. Only that the benchmark works is checked
here, not its figures: a tiny size says nothing about the targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: the benchmark, and the keys its JSON must have (scale has its own test below)
EXPECTED = {
    "detection": [
        "overhead_median_s",
        "overhead_p95_s",
        "latency_median_s",
        "poller_latency_median_s",
        "poller_overhead_median_s",
        "pass_median",
        "pass_p95",
    ],
    "upload": ["ratio", "peak_rss_mb", "rss_growth_mb", "by_size", "pass_ratio", "pass_rss"],
    "idle": [
        "start_to_ready_s",
        "cpu_seconds_per_idle_minute",
        "walk_cpu_seconds",
        "walks_per_idle_minute",
        "pass_walks",
        "rss_mb",
        "files",
        "pass_cpu",
        "pass_ready",
    ],
    "render_slack": ["default", "fixed", "pass_slack", "pass_polls"],
    "web_page": [
        "history_jobs",
        "routes",
        "baseline_median_ms",
        "live_median_ms",
        "live_p95_ms",
        "screen",
        "screen_skipped",
        "pass_pages",
        "pass_live",
        "pass_screen",
    ],
}


def run_quick(name: str, results: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEMO")}
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick"],
        cwd=REPO,
        env={**env, "BENCH_RESULTS_DIR": str(results)},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout or "MISS" in done.stdout, done.stdout
    figures: dict[str, object] = json.loads((results / f"{name}.json").read_text())
    return figures


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_runs_quick_and_writes_its_figures(name: str, tmp_path: Path) -> None:
    figures = run_quick(name, tmp_path)
    missing = [key for key in [*EXPECTED[name], "machine", "source"] if key not in figures]
    assert not missing, f"bench.{name} wrote no {missing}: {figures}"
    if name == "web_page":  # every answer timed, and the live feed's events matched
        routes = figures["routes"]
        assert isinstance(routes, list) and all(r["n"] == 10 for r in routes), routes
        assert isinstance(figures["live_events"], int) and figures["live_events"] > 0, figures


def test_scale_runs_quick_and_delivers_every_job_exactly_once(tmp_path: Path) -> None:
    figures = run_quick("scale", tmp_path)
    for key in (
        "sizes",
        "rss_ratio",
        "fds_ratio",
        "cpu_ratio_to_bare_client",
        "pass_cpu",
        "pass_ratio",
        "pass_flat",
        "pass_once",
        "source",
    ):
        assert key in figures, f"bench.scale wrote no {key}: {figures}"
    sizes = figures["sizes"]
    assert isinstance(sizes, list) and len(sizes) == 2
    for size in sizes:
        for key in (
            "wall_seconds",
            "daemon_cpu_ms_per_job",
            "bare_client_cpu_ms_per_job",
            "cpu_ratio_to_bare_client",
            "daemon_peak_open_fds",
        ):
            assert key in size, size
        assert size["every_job_delivered_once"], size
        # the floor made the calls the daemon made, per job
        calls = size["calls_per_job"]
        for endpoint in ("session", "upload", "run_sse", "render_submit", "state"):
            assert calls["bare_client"][endpoint] == calls["daemon"][endpoint], calls
