"""Whether another program holds a file open for writing, asked of the kernel.

A read lease (`fcntl F_SETLEASE, F_RDLCK`) is refused while any process has
the file open for writing, so taking one and releasing it at once answers
the question exactly on a local filesystem, without reading a byte. Where
leases are not available (network filesystems, a file of another owner
without CAP_LEASE) the answer is "unknown", and the settle time alone
decides when a file is complete.

A lease break (another program opening the file for writing while the lease
is held, for the few microseconds it is) is signalled with SIGIO, whose
default action ends the process: SIGIO is ignored before the first lease.
Only the main thread may change a signal's handler; elsewhere, with SIGIO not
ignored yet, no lease is taken and the answer is "unknown".
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path

#: the errors that mean "a writer has the file open"
_HELD = frozenset({errno.EAGAIN, errno.EBUSY})
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def ignore_lease_breaks() -> bool:
    """Ignore SIGIO, so a lease break cannot end the process; whether it is ignored now.

    Only SIGIO's default action is replaced: a handler someone installed on
    purpose is left alone (it does not end the process either).
    """
    if signal.getsignal(signal.SIGIO) is not signal.SIG_DFL:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGIO, signal.SIG_IGN)
    return True


def held_for_writing(path: Path | str) -> bool | None:
    """Whether a process has `path` open for writing: True, False, or None for unknown.

    The file is opened read-only and non-blocking, never following a link
    (a FIFO, a directory, a device or a link gives None: only regular files
    are asked about), and the lease is released as soon as it is granted.
    """
    if not ignore_lease_breaks():
        return None
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None  # gone, a link (ELOOP), unreadable: nothing to say
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError as exc:
            # EACCES (another owner, no CAP_LEASE), EINVAL or ENOLCK (no leases on
            # this filesystem) and anything else: unknown, the settle time decides.
            return True if exc.errno in _HELD else None
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def leases_work_in(folder: Path) -> bool | None:
    """Whether write-open detection works in `folder`: a lease on a new temporary file.

    None when no file could be made there (the folder is missing or not writable).
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".nemowatch-lease-", dir=folder)
    except OSError:
        return None
    try:
        os.close(fd)
        return held_for_writing(name) is False
    finally:
        os.unlink(name)
