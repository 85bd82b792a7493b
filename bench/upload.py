"""Upload: the daemon's upload of a big file against `curl -F files=@...`, same emulator.

    python -m bench.upload [--mb 100 500] [--runs 7] [--unpinned] [--quick]

For each size a fresh `nemowatch run` uploads a dropped pair's video (a hard
link to the source file, so both tools read the same cached file) and curl
uploads the same file to the same endpoint, alternating runs, each after an
`os.sync()` so that no earlier run's write-back competes with it. Both are
timed the same way, by the emulator's journal: from the first byte of the
request body (`first_byte_at`) to the answer (`finished_at`). The daemon's
RSS is sampled from /proc every 20 ms; its peak between those two moments is
the upload's. curl's own peak RSS (VmHWM, sampled while it runs) is shown
for reference. The emulator runs on CPU 0 of its own (see `EMULATOR_CPU`).
MB here are MiB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    Row,
    Sampler,
    anonymous_session,
    curl_upload,
    make_file,
    print_table,
    save,
    uploads_by_name,
    verdict,
)
from devkit.daemon import FAST_EXPORT, Daemon, running_daemon
from devkit.drops import drop_pair
from devkit.emulator import ZERO_DELAYS, emulator_process
from nemowatch.emulator import EmulatorControl

TARGET_RATIO, TARGET_RSS_MB = 0.8, 100.0
#: The receiving emulator (one busy Python thread) gets a CPU of its own, so that the
#: uploader does not compete with it; unpinned, either tool's rates spread more
#: widely (300 to 650 MB/s in one run). The uploader itself is left free: pinned to
#: the other CPU, the daemon's event loop and its disk-reading thread share that one
#: CPU and it loses a third of its rate, which curl (one thread) does not.
EMULATOR_CPU = 0


def rate(record: dict[str, Any]) -> float:
    """MiB/s of one upload, from the emulator's journal record of it."""
    size = sum(part["size"] for part in record["body"]["files"])
    return size / (1024 * 1024) / (record["finished_at"] - record["first_byte_at"])


def daemon_run(
    daemon: Daemon, control: EmulatorControl, source: Path, run: int
) -> dict[str, float]:
    """Drop one pair, wait for its delivery; the upload's rate and the daemon's peak RSS."""
    name = f"big{run}"
    os.sync()  # no write-back of earlier runs' files during this one
    with Sampler(daemon.pid) as sampler:
        drop_pair(daemon.inbox, name, source, "link")
        daemon.wait_for(lambda: (daemon.outbox / f"{name}.mp4").exists(), 600, f"{name} delivered")
    record = uploads_by_name(control.journal(endpoint="upload"))[f"{name}.mp4"]
    if record["status"] != 200:
        raise RuntimeError(f"the daemon's upload of {name} answered {record['status']}")
    start, end = record["first_byte_at"], record["finished_at"]
    figures = {
        "mb_per_s": rate(record),
        "peak_rss_mb": sampler.peak_rss_mb(start, end),
        "samples": len(sampler.within(start, end)),
    }
    # keep the disk use of a 500 MB benchmark bounded: the result is not needed
    (daemon.outbox / f"{name}.mp4").unlink()
    return figures


def curl_run(
    url: str,
    control: EmulatorControl,
    login: tuple[str, str],
    source: Path,
    expect: bool = True,
) -> dict[str, float]:
    """`curl -F files=@FILE` to the upload endpoint; its rate by the journal, its peak RSS.

    `expect=False` adds `-H Expect:`: curl then sends the body at once, as the daemon
    (httpx) does, instead of waiting for the server's "100 Continue" first.
    """
    token, session = login
    before = len(control.journal(endpoint="upload"))
    os.sync()
    proc = subprocess.Popen(
        curl_upload(url, token, session, source, "--fail", *([] if expect else ["-H", "Expect:"])),
        stdout=subprocess.PIPE,
        text=True,
    )
    with Sampler(proc.pid, every=0.01) as sampler:
        out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"curl exited {proc.returncode}")
    records = control.journal(endpoint="upload")[before:]
    if len(records) != 1 or records[0]["status"] != 200:
        raise RuntimeError(f"curl's upload was not recorded as one answered request: {records}")
    return {
        "mb_per_s": rate(records[0]),
        "peak_rss_mb": sampler.hwm_mb(),
        "time_total_s": float(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, nargs="+", default=[100, 500], help="file sizes, MiB")
    parser.add_argument("--runs", type=int, default=7, help="runs of each tool per size")
    parser.add_argument("--quick", action="store_true", help="4 and 8 MiB, one run (smoke test)")
    parser.add_argument(
        "--unpinned", action="store_true", help="let the scheduler place the emulator too"
    )
    args = parser.parse_args()
    if args.quick:
        args.mb, args.runs = [4, 8], 1

    emulator_cpu = None if args.unpinned else EMULATOR_CPU
    results: dict[int, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="nemowatch-upload-") as tmp:
        root = Path(tmp)
        with emulator_process(root / "emu", *ZERO_DELAYS, cpu=emulator_cpu) as emulator:
            url, control = emulator.url, emulator.control
            login = anonymous_session(url)  # one token and session for every curl run
            for mb in args.mb:
                source = make_file(root / f"source{mb}.mp4", mb)
                runs: dict[str, list[dict[str, float]]] = {
                    "nemowatch": [],
                    "curl": [],
                    "curl_no_expect": [],
                }
                with running_daemon(
                    root / f"nw{mb}",
                    emulator,
                    watch={"settle_seconds": 0.5},
                    jobs={"after_success": "delete", "max_file_mb": 500},
                    export=FAST_EXPORT,
                ) as daemon:
                    for run in range(args.runs):
                        runs["nemowatch"].append(daemon_run(daemon, control, source, run))
                        runs["curl"].append(curl_run(url, control, login, source))
                        runs["curl_no_expect"].append(
                            curl_run(url, control, login, source, expect=False)
                        )
                    if daemon.failures():
                        raise RuntimeError(f"jobs failed: {daemon.failures()}")
                source.unlink()
                results[mb] = runs

    figures: dict[str, Any] = {"runs": args.runs, "sizes_mb": args.mb, "by_size": {}}
    figures["emulator_cpu"] = emulator_cpu
    rows: list[Row] = []
    for mb, runs in results.items():
        ours = statistics.median(r["mb_per_s"] for r in runs["nemowatch"])
        curl = statistics.median(r["mb_per_s"] for r in runs["curl"])
        bare = statistics.median(r["mb_per_s"] for r in runs["curl_no_expect"])
        rss = max(r["peak_rss_mb"] for r in runs["nemowatch"])
        figures["by_size"][str(mb)] = {
            "nemowatch_mb_per_s": round(ours, 1),
            "curl_mb_per_s": round(curl, 1),
            "ratio": round(ours / curl, 2),
            "curl_no_expect_mb_per_s": round(bare, 1),
            "ratio_no_expect": round(ours / bare, 2),
            "nemowatch_peak_rss_mb": round(rss, 1),
            "curl_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["curl"]), 1),
            "runs": runs,
        }
    sizes = figures["by_size"]
    biggest, smallest = sizes[str(max(args.mb))], sizes[str(min(args.mb))]
    figures["ratio"] = biggest["ratio"]
    figures["peak_rss_mb"] = max(s["nemowatch_peak_rss_mb"] for s in sizes.values())
    growth = biggest["nemowatch_peak_rss_mb"] - smallest["nemowatch_peak_rss_mb"]
    figures["rss_growth_mb"] = round(growth, 1)
    figures["pass_ratio"] = all(s["ratio"] >= TARGET_RATIO for s in sizes.values())
    figures["pass_rss"] = figures["peak_rss_mb"] < TARGET_RSS_MB
    # "not growing with file size": within 10 % of the smaller size's peak
    figures["pass_rss_flat"] = growth <= 0.1 * smallest["nemowatch_peak_rss_mb"]
    for mb in args.mb:
        s = sizes[str(mb)]
        rows += [
            Row(
                f"{mb} MB: throughput nemowatch / curl",
                f"{s['ratio']:.2f}",
                f">= {TARGET_RATIO:g}",
                f"{s['nemowatch_mb_per_s']:.0f} / {s['curl_mb_per_s']:.0f} MB/s",
                verdict(s["ratio"] >= TARGET_RATIO),
            ),
            Row(
                f"{mb} MB: nemowatch / curl -H Expect: (body sent at once)",
                f"{s['ratio_no_expect']:.2f}",
                "",
                f"{s['nemowatch_mb_per_s']:.0f} / {s['curl_no_expect_mb_per_s']:.0f} MB/s",
            ),
            Row(
                f"{mb} MB: daemon peak RSS during upload",
                f"{s['nemowatch_peak_rss_mb']:.1f} MB",
                f"< {TARGET_RSS_MB:g} MB",
                f"curl {s['curl_peak_rss_mb']:.1f} MB",
                verdict(s["nemowatch_peak_rss_mb"] < TARGET_RSS_MB),
            ),
        ]
    rows.append(
        Row(
            f"peak RSS growth {min(args.mb)} -> {max(args.mb)} MB",
            f"{growth:+.1f} MB",
            "flat (<= 10 %)",
            result=verdict(figures["pass_rss_flat"]),
        )
    )
    print_table(
        f"upload: a dropped pair's video, daemon vs curl -F (and without Expect), "
        f"{args.runs} alternating runs "
        "each, median rate",
        rows,
    )
    print(f"figures written to {save('upload', figures)}")


if __name__ == "__main__":
    main()
