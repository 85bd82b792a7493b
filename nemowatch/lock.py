"""One daemon per inbox and per state folder: `flock` locks held for the daemon's life.

`flock` rather than a POSIX `fcntl` lock: the latter is dropped by any
`close()` of the same file anywhere in the process, the former only when its
own descriptor is closed. The lock file holds who took it (host, pid, since
when), for the message a second daemon prints and for `status`.

`holder()` asks the lock itself, not a pid file: it takes a shared lock for
an instant, which a running daemon's exclusive lock refuses. A daemon that
starts during that instant tries again for `WAIT_SECONDS`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from nemowatch.errors import AlreadyRunningError

log = logging.getLogger(__name__)

LOCK_FILE = "daemon.lock"
#: how long a starting daemon tries again (a `status` probe holds the lock for an instant)
WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written into the lock file."""

    host: str
    pid: int
    since: float

    def __str__(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on {self.host}, since {since}"


def _read_holder(fd: int) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(str(data["host"]), int(data["pid"]), float(data["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


class DaemonLock:
    """An exclusive `flock` on `path`, taken by `acquire()` and kept until `release()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._since = time.time()

    def acquire(self, wait: float = WAIT_SECONDS) -> None:
        """Take the lock, or raise `AlreadyRunningError` naming its holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise AlreadyRunningError(self.path, str(holder) if holder else None) from None
                time.sleep(0.1)
        mine = {"host": socket.gethostname(), "pid": os.getpid(), "since": self._since}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(mine).encode(), 0)
        except OSError as exc:  # a full disk: the lock holds all the same, unnamed
            log.warning("the lock file %s cannot name its holder: %s", self.path, exc.strerror)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def still_held(self) -> bool:
        """Whether the lock file at `path` is still the one locked (not deleted or replaced)."""
        if self._fd is None:
            return False
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            return False

    def renew(self) -> None:
        """Take the lock again on a new file, when the old one was deleted with its folder."""
        self.release()
        self.acquire(wait=0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock


class DaemonLocks:
    """The daemon's locks: `daemon.lock` in each of its folders (one if they coincide)."""

    def __init__(self, folders: list[Path]) -> None:
        paths = dict.fromkeys((folder / LOCK_FILE).resolve() for folder in folders)
        self._locks = [DaemonLock(path) for path in paths]

    def acquire(self) -> None:
        """Take every lock, or raise `AlreadyRunningError` holding none of them."""
        try:
            for lock in self._locks:
                lock.acquire()
        except BaseException:
            self.release()
            raise

    def check(self) -> None:
        """A lock whose file was deleted (with its folder) is taken again on a new file."""
        for lock in self._locks:
            if not lock.still_held():
                log.warning("the lock file %s was removed; taking it again", lock.path)
                try:
                    lock.renew()
                except (OSError, AlreadyRunningError) as exc:
                    log.error("could not take the lock %s again: %s", lock.path, exc)

    def release(self) -> None:
        for lock in self._locks:
            lock.release()


def holder(path: Path) -> Holder | None:
    """Who holds the lock at `path` now; None when no process does."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or Holder("an unknown host", 0, 0.0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
