"""NemoClient's upload against `curl -F files=@...`, same emulator, alternating runs.

    python -m bench.client_upload [--mb 300] [--runs 3]

Reports each tool's throughput (from its own timing of the transfer) and its
peak RSS (from the kernel's rusage of the child process).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from bench.common import anonymous_session, curl_upload, make_file, run_measured, save
from devkit.emulator import emulator_process


def child(url: str, token: str, session: str, path: Path) -> None:
    """The measured side: one upload through NemoClient, printing its seconds."""
    from nemowatch.api import NemoClient, RetryPolicy
    from nemowatch.config import ApiSettings, ExportSettings

    async def upload() -> float:
        async with httpx.AsyncClient(timeout=120) as http:
            client = NemoClient(
                http,
                ApiSettings(base_url=url, token=SecretStr(token)),
                ExportSettings(),
                state_dir=path.parent / "state",
                retry=RetryPolicy(retries=0),
            )
            started = time.perf_counter()
            await client.upload(session, [path])
            return time.perf_counter() - started

    print(f"{asyncio.run(upload()):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("URL", "TOKEN", "SESSION", "FILE"))
    args = parser.parse_args()
    if args.child:
        url, token, session, file = args.child
        child(url, token, session, Path(file))
        return
    with tempfile.TemporaryDirectory(prefix="nemowatch-bench-") as tmp:
        root = Path(tmp)
        path = make_file(root / "big.mp4", args.mb)
        with emulator_process(root / "emu", "transcode=false") as emulator:
            url = emulator.url
            token, session = anonymous_session(url)
            rows: dict[str, list[tuple[float, float]]] = {"nemowatch": [], "curl": []}
            for _ in range(args.runs):
                ours = run_measured(
                    [
                        sys.executable,
                        "-m",
                        "bench.client_upload",
                        "--child",
                        url,
                        token,
                        session,
                        str(path),
                    ]
                )
                rows["nemowatch"].append((float(ours.stdout), ours.max_rss_mb))
                curl = run_measured(curl_upload(url, token, session, path))
                rows["curl"].append((float(curl.stdout), curl.max_rss_mb))
    figures = {}
    print(f"upload of {args.mb} MB to the emulator on loopback, {args.runs} runs each")
    print(f"{'tool':<10} {'MB/s (median)':>14} {'peak RSS MB':>12}")
    for tool, runs in rows.items():
        rate = statistics.median(args.mb / s for s, _ in runs)
        rss = max(r for _, r in runs)
        figures[tool] = {"mb_per_s": round(rate, 1), "peak_rss_mb": round(rss, 1)}
        print(f"{tool:<10} {rate:>14.1f} {rss:>12.1f}")
    ratio = figures["nemowatch"]["mb_per_s"] / figures["curl"]["mb_per_s"]
    figures["ratio"] = round(ratio, 2)
    print(f"throughput ratio nemowatch/curl: {ratio:.2f}")
    print(f"figures written to {save('client_upload', figures)}")


if __name__ == "__main__":
    main()
