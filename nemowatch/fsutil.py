"""Small filesystem helpers shared by the token cache, the journal and results."""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
from pathlib import Path

#: renameat2(2)'s flags: fail where the new name exists; swap two names atomically
#: (Linux 3.15; ext4, tmpfs, btrfs, xfs)
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100
_renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


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
                os.fdatasync(fd)
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


def rewrite(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace `path` with `data` whole or not at all, durably, reusing the same two files.

    As `write_atomic(..., parents=False)`, but the temporary file is a fixed spare,
    `.NAME.spare`, written in place, and the two names are swapped (renameat2's
    RENAME_EXCHANGE): the version replaced becomes the next write's spare. No file is
    created or deleted per write. That matters for a file rewritten a dozen times per
    job: on ext4 without a journal, every new file made the kernel step over each one
    deleted in the last minutes, and at a thousand jobs that search was a fifth of the
    daemon's CPU. Where the swap is not supported, the spare is renamed over `path`.

    The spare is overwritten in place and then cut to length, not truncated first:
    its blocks stay allocated, so a write of a small file frees and allocates none.
    `durable=False` skips the fsyncs, as `write_atomic`'s does (the status file).

    The file itself is synced with `fdatasync`, here and in `write_atomic`: its data
    and length, not its times, which no reader needs after a power cut.
    """
    spare = path.with_name(spare_name(path.name))
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, mode)
        view, offset = memoryview(data), 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        if durable:
            os.fdatasync(fd)
    finally:
        os.close(fd)
    if not _exchange(spare, path):
        os.replace(spare, path)
    if durable:
        fsync_dir(path.parent)


def spare_name(name: str) -> str:
    """The name of the spare that `rewrite` keeps beside the file `name`."""
    return f".{name}.spare"


def rename_new(src: Path, dest: Path) -> bool:
    """Rename `src` to `dest` when nothing is there, in one step; False when `dest` is
    taken (a folder too, even an empty one: `os.rename` would replace that)."""
    if _renameat2 is not None:
        names = (os.fsencode(src), os.fsencode(dest))
        if _renameat2(_AT_FDCWD, names[0], _AT_FDCWD, names[1], _RENAME_NOREPLACE) == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            return False
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(src), None, str(dest))
    if os.path.lexists(dest):  # a filesystem without the flag: a moment's race remains
        return False
    os.rename(src, dest)
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two names atomically; False where one is missing or the swap is unsupported."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOENT, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # the first write (nothing to swap with), or a filesystem without it
    raise OSError(code, os.strerror(code), str(b))
