"""Small real disks for fault tests: a tmpfs mounted on a folder, filled up to the brim.

Mounting needs root (tests run as root on our machines); elsewhere the test is
skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

FILLER = ".filler"


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int = 8) -> Iterator[Path]:
    """A tmpfs of `size_mb` mounted on `path` (created); unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill `folder`'s disk (but `leave` bytes) with one file; its path (delete it to free)."""
    filler = folder / FILLER
    info = os.statvfs(folder)
    todo = max(0, info.f_bavail * info.f_frsize - leave)
    with filler.open("wb", buffering=0) as out:
        try:
            while todo > 0 or leave == 0:
                chunk = min(todo, 1 << 20) if todo > 0 else 4096
                out.write(b"\0" * chunk)
                todo -= chunk
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler
