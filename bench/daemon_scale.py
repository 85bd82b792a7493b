"""Many pairs dropped at once into the inbox of a real `nemowatch run`.

    python -m bench.daemon_scale [--pairs 200] [--parallel 8] [--settle 1]

Emulator with zero delays. Reports the wall time until every pair is
delivered, the daemon's peak RSS and open descriptors (sampled from /proc),
its CPU seconds, and the time from each pair's last close to the first byte
of its upload at the emulator (minus the settle time: the daemon's overhead).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import tomli_w

from bench.common import emulator_process, save
from nemowatch.emulator import EmulatorControl

ZERO_DELAYS = (
    "turn_seconds=0",
    "heartbeat_seconds=0.05",
    "second_stage=false",
    "render_seconds=0",
    "transcode=false",
    "use_ffmpeg=false",
    "silent_share=0",
    "credits=1000000",
)


class Sampler(threading.Thread):
    """Peak RSS and open descriptors of a process, read from /proc every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_rss_mb, self.peak_fds = pid, 0.0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            try:
                fds = len(os.listdir(f"/proc/{self.pid}/fd"))
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            rss = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
            )
            self.peak_rss_mb = max(self.peak_rss_mb, rss / 1024)
            self.peak_fds = max(self.peak_fds, fds)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between drops (0: all at once; spaced drops measure detection alone)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nemowatch-scale-") as tmp:
        root = Path(tmp)
        (root / "emu").mkdir()
        clip = root / "clip.mp4"
        clip.write_bytes(os.urandom(200_000))
        with emulator_process(root / "emu", *ZERO_DELAYS) as url:
            config = root / "nemowatch.toml"
            config.write_text(
                tomli_w.dumps(
                    {
                        "folders": {
                            k: str(root / k) for k in ("inbox", "outbox", "failed", "state")
                        },
                        "watch": {"settle_seconds": args.settle, "rescan_seconds": 60},
                        "api": {"base_url": url, "client_id_file": str(root / "client_id")},
                        "jobs": {
                            "max_parallel": args.parallel,
                            "max_parallel_uploads": args.parallel,
                            "min_credits": 0,
                        },
                        "export": {
                            "poll_first_seconds": 0.05,
                            "poll_max_seconds": 0.2,
                            "state_settle_seconds": 0,
                        },
                        "logging": {"level": "WARNING"},
                    }
                )
            )
            (root / "inbox").mkdir()
            proc = subprocess.Popen(
                [sys.executable, "-m", "nemowatch", "--config", str(config), "run"],
                stderr=(root / "daemon.log").open("wb"),
            )
            while not (root / "state" / "status.json").exists():
                time.sleep(0.05)
            sampler = Sampler(proc.pid)
            sampler.start()
            cpu_before = cpu_seconds(proc.pid)
            closed: dict[str, float] = {}
            started = time.time()
            for i in range(args.pairs):
                name = f"clip{i:04d}"
                (root / "inbox" / f"{name}.txt").write_text("Add a title")
                shutil.copyfile(clip, root / "inbox" / f"{name}.mp4")
                closed[f"{name}.mp4"] = time.time()
                if args.interval:
                    time.sleep(args.interval)
            outbox = root / "outbox"
            while len(list(outbox.glob("*.mp4"))) < args.pairs:
                if proc.poll() is not None:
                    raise RuntimeError("the daemon exited; see " + str(root / "daemon.log"))
                time.sleep(0.1)
            wall = time.time() - started
            cpu = cpu_seconds(proc.pid) - cpu_before
            sampler.done.set()
            proc.terminate()
            proc.wait(timeout=60)
            with EmulatorControl(url) as control:
                uploads = control.journal(endpoint="upload")
                sse = control.journal(endpoint="run_sse")
            delays = [
                u["first_byte_at"] - closed[f["name"]]
                for u in uploads
                if u.get("first_byte_at")
                for f in u["body"].get("files", [])
                if f["name"] in closed
            ]
            outputs = sorted(p.name for p in outbox.glob("*.mp4"))
    expected = sorted(f"clip{i:04d}.mp4" for i in range(args.pairs))
    figures = {
        "pairs": args.pairs,
        "max_parallel": args.parallel,
        "settle_seconds": args.settle,
        "interval_seconds": args.interval,
        "wall_seconds": round(wall, 1),
        "daemon_cpu_seconds_per_job": round(cpu / args.pairs, 4),
        "daemon_peak_rss_mb": round(sampler.peak_rss_mb, 1),
        "daemon_peak_open_fds": sampler.peak_fds,
        "close_to_upload_median_s": round(statistics.median(delays), 3),
        "close_to_upload_p95_s": round(sorted(delays)[int(0.95 * (len(delays) - 1))], 3),
        "every_job_delivered_once": outputs == expected and len(sse) == args.pairs,
    }
    figures["overhead_median_s"] = round(figures["close_to_upload_median_s"] - args.settle, 3)
    for key, value in figures.items():
        print(f"{key:<28} {value}")
    print(f"figures written to {save(f'daemon_scale_{args.pairs}_{args.interval:g}', figures)}")


if __name__ == "__main__":
    main()
