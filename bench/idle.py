"""Idle cost: a daemon watching a big inbox with nothing to do.

    python -m bench.idle [--folders 1000] [--files 5000] [--seconds 60] [--quick]

The inbox holds `--folders` sub-folders and `--files` unrelated files, all of
them ones the daemon legitimately leaves alone (it fails unsupported files
and bundles without a .txt after their wait, so those would not be idle):

- in each sub-folder, files matching `watch.ignore_patterns` (a hidden
  `.DS_Store`, `clip.mp4.part`, `render.tmp`, `~$notes.docx`), so the
  folder waits as "empty folder" and is never failed;
- at the top level, the rest: half more ignored names, half orphan `.txt`
  files (instructions waiting for their video wait without failing).

The daemon is started with `NOTIFY_SOCKET` pointing at a datagram socket of
ours; start to ready is from the spawn of `nemowatch run` to its READY=1
(sent after the startup scan). Then it is left alone: its CPU seconds from
/proc/PID/stat over the idle window are reported per idle minute. The window
is `--seconds` plus 2 s, so that with the default `watch.rescan_seconds` (60)
it holds one full rescan of the inbox; the config is otherwise the default.

CPU seconds differ between machines, so the same run also measures the CPU of
one plain walk of the same inbox (`os.scandir` down every folder, an `lstat`
of every entry; the median of several, the folders in the page cache as the
daemon's rescans find them) and reports the idle CPU per minute as that many
walks per minute.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Row, Sampler, cpu_seconds, print_table, save, verdict
from devkit.daemon import Daemon
from devkit.emulator import ZERO_DELAYS, emulator_process
from devkit.notify import NotifySocket

TARGET_CPU_PER_MIN, TARGET_READY_S = 0.1, 2.0
#: idle CPU per minute, in plain walks of the inbox
TARGET_WALKS_PER_MIN = 3.0
#: walks timed (after one that is not): their median is the figure
WALKS = 7
#: the default `watch.rescan_seconds`, in force here
RESCAN_SECONDS = 60.0
#: ignored names (the default `watch.ignore_patterns`) put in each sub-folder
FOLDER_FILES = (".DS_Store", "clip.mp4.part", "render.tmp", "~$notes.docx")
#: ignored names put at the top level, beside the orphan .txt files
TOP_FILES = ("download{i:04d}.mov.part", "export{i:04d}.tmp", ".thumb{i:04d}.jpg")


def fill_inbox(inbox: Path, folders: int, files: int) -> int:
    """Sub-folders of ignored files, then ignored names and orphan .txt at the top; the count."""
    per_folder = min(len(FOLDER_FILES), files // max(folders, 1))
    made = 0
    for i in range(folders):
        folder = inbox / f"project{i:04d}"
        folder.mkdir()
        for name in FOLDER_FILES[:per_folder]:
            (folder / name).write_bytes(b"x" * 100)
            made += 1
    top = files - made
    for i in range(top):
        if i % 2:
            (inbox / f"notes{i:04d}.txt").write_text("Trim the silences")
        else:
            (inbox / TOP_FILES[i // 2 % len(TOP_FILES)].format(i=i)).write_bytes(b"x" * 100)
        made += 1
    return made


def walk(folder: Path) -> int:
    """A plain walk: every folder listed, every entry `lstat`ed; the number of entries."""
    seen = 0
    pending = [str(folder)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                entry.stat(follow_symlinks=False)
                seen += 1
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return seen


def walk_cpu_seconds(folder: Path) -> float:
    """The CPU seconds (this thread's) of one walk of `folder`: the median of `WALKS`."""
    walk(folder)  # the folders in the page cache, as the daemon's rescans find them
    times = []
    for _ in range(WALKS):
        started = time.thread_time()
        walk(folder)
        times.append(time.thread_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folders", type=int, default=1000)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60, help="idle time measured")
    parser.add_argument("--quick", action="store_true", help="a small inbox, 3 s (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.folders, args.files, args.seconds = 20, 100, 3
    window = args.seconds + 2 if args.seconds >= 60 else args.seconds

    with tempfile.TemporaryDirectory(prefix="nemowatch-idle-") as tmp:
        root = Path(tmp)
        with (
            NotifySocket(root / "notify.sock") as notify,
            emulator_process(root / "emu", *ZERO_DELAYS) as emulator,
        ):
            daemon = Daemon(root / "nw", emulator)
            made = fill_inbox(daemon.inbox, args.folders, args.files)
            daemon.start(env={"NOTIFY_SOCKET": str(notify.path)}, wait=False)
            try:
                ready_at = notify.wait_time("READY=1", timeout=60)
                ready_s = ready_at - daemon.started_at
                startup_cpu = cpu_seconds(daemon.pid)
                timeline: list[tuple[float, float]] = []  # (s after READY, CPU s)
                with Sampler(daemon.pid, every=0.5) as sampler:
                    while (now := time.monotonic()) < ready_at + window:
                        cpu = cpu_seconds(daemon.pid) - startup_cpu
                        timeline.append((now - ready_at, cpu))
                        time.sleep(min(0.5, ready_at + window - now))
                    idle_cpu = cpu_seconds(daemon.pid) - startup_cpu
                alive = daemon.running()
            finally:
                code = daemon.stop(timeout=60)
            failures = daemon.failures()
            claimed = [p for p in (daemon.inbox / ".nemowatch").glob("*") if p.is_dir()]
            walk_cpu = walk_cpu_seconds(daemon.inbox)
    if not alive or code != 0:
        raise SystemExit(f"the daemon did not stay up (exit code {code})")
    if failures or claimed:
        raise SystemExit(f"the daemon acted on unrelated files: {failures or claimed}")

    per_minute = idle_cpu * 60 / window
    walks_per_minute = per_minute / walk_cpu
    # the first rescan of the whole inbox comes `watch.rescan_seconds` after start-up
    quiet = [cpu for at, cpu in timeline if at < RESCAN_SECONDS - 1]
    before_rescan = quiet[-1] if quiet and window > RESCAN_SECONDS else None
    figures = {
        "folders": args.folders,
        "files": made,
        "idle_seconds": round(window, 1),
        "start_to_ready_s": round(ready_s, 3),
        "startup_cpu_seconds": round(startup_cpu, 2),
        "idle_cpu_seconds": round(idle_cpu, 3),
        "cpu_seconds_per_idle_minute": round(per_minute, 3),
        "walk_cpu_seconds": round(walk_cpu, 5),
        "walks_per_idle_minute": round(walks_per_minute, 2),
        "rss_mb": round(sampler.samples[-1].rss_mb, 1),
        "peak_rss_mb": round(sampler.peak_rss_mb(), 1),
        "peak_open_fds": sampler.peak_fds(),
        "cpu_seconds_ready_to_rescan": None if before_rescan is None else round(before_rescan, 3),
        "cpu_seconds_first_rescan": (
            None if before_rescan is None else round(idle_cpu - before_rescan, 3)
        ),
        "cpu_timeline": [(round(at, 1), round(cpu, 2)) for at, cpu in timeline],
        "pass_cpu": per_minute < TARGET_CPU_PER_MIN,
        "pass_ready": ready_s < TARGET_READY_S,
        "pass_walks": walks_per_minute <= TARGET_WALKS_PER_MIN,
    }
    print_table(
        f"idle: inbox of {args.folders:,} sub-folders and {made:,} unrelated files, "
        f"{window:g} s idle after READY",
        [
            Row(
                "start -> READY=1",
                f"{ready_s:.2f} s",
                f"< {TARGET_READY_S:g} s",
                result=verdict(figures["pass_ready"]),
            ),
            Row(
                "CPU per idle minute",
                f"{per_minute:.3f} s",
                f"< {TARGET_CPU_PER_MIN:g} s",
                result=verdict(figures["pass_cpu"]),
            ),
            Row(
                "CPU per idle minute, in plain walks of the inbox",
                f"{walks_per_minute:.2f} walks",
                f"<= {TARGET_WALKS_PER_MIN:g} walks",
                f"1 walk = {walk_cpu * 1000:.1f} ms CPU",
                result=verdict(figures["pass_walks"]),
            ),
            *(
                []
                if before_rescan is None
                else [
                    Row(
                        f"  of which READY -> {RESCAN_SECONDS - 1:g} s",
                        f"{before_rescan:.2f} s",
                    ),
                    Row(
                        f"  of which the rescan at {RESCAN_SECONDS:g} s",
                        f"{idle_cpu - before_rescan:.2f} s",
                    ),
                ]
            ),
            Row("CPU seconds to READY", f"{startup_cpu:.2f} s"),
            Row("RSS at the end / peak", f"{figures['rss_mb']} / {figures['peak_rss_mb']} MB"),
            Row("open descriptors (peak)", str(figures["peak_open_fds"])),
        ],
    )
    print(f"figures written to {save('idle', figures)}")


if __name__ == "__main__":
    main()
