"""Small filesystem helpers shared by the token cache, the journal and results."""

from __future__ import annotations

import itertools
import os
from pathlib import Path


def write_atomic(
    path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True, parents: bool = True
) -> None:
    """Write `data` to `path` whole or not at all: temporary file, fsync, rename.

    The temporary file is created with `mode` from the start, so a secret is
    never readable by others, not even for a moment. `durable=False` skips
    both fsyncs, for a file that is rewritten anyway and whose loss in a power
    cut costs nothing (the status file): readers still never see half of it.
    `parents=False`: a missing folder is an error, never made again (a job's
    journal must not bring back a folder the user removed).
    """
    try:
        fd, tmp = _temporary(path)
    except FileNotFoundError:
        if not parents:
            raise
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temporary(path)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


_serial = itertools.count()


def _temporary(path: Path) -> tuple[int, str]:
    """A new hidden file beside `path` (mode 0600 until changed), open for writing.

    A short fixed form (a name as long as the filesystem allows must still get
    one), unique by pid and a counter: cheaper than `mkstemp`'s random names,
    and the journal is written many times per job.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    while True:
        tmp = os.path.join(path.parent, f".nw-{os.getpid()}-{next(_serial)}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:  # left by an earlier process with this pid
            continue


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
