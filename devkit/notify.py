"""The systemd side of `$NOTIFY_SOCKET`: a datagram socket that stamps each message."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from devkit.waits import WaitFailed, check_watched

#: how long one read blocks, so a wait also notices a daemon that died
_SLICE = 0.05


class NotifySocket:
    """Collects every datagram sent to `path`, each with the monotonic time it arrived.

    `messages` holds `(time, text)` in arrival order. A context manager: the
    socket is closed on the way out.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _receive(self, timeout: float) -> bool:
        """Read one datagram if one comes within `timeout`; whether one came."""
        self.sock.settimeout(max(timeout, 1e-6))
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return False
        self.messages.append((time.monotonic(), data.decode()))
        return True

    def drain(self, quiet: float = _SLICE) -> list[str]:
        """Read until nothing comes for `quiet` seconds; every message's text so far."""
        while self._receive(quiet):
            pass
        return [m for _, m in self.messages]

    def wait(self, fragment: str, timeout: float = 15, after: int = 0) -> int:
        """The index in `messages` of the first message from `after` on holding `fragment`.

        Each message is stamped as it arrives (`messages[i][0]`). Fails early if
        a daemon watched by `devkit.waits` has exited.
        """
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            for i in range(seen, len(self.messages)):
                if fragment in self.messages[i][1]:
                    return i
            seen = max(seen, len(self.messages))
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitFailed(f"no {fragment!r} on {self.path} within {timeout:g} s")
            if not self._receive(min(left, _SLICE)):
                check_watched(f"{fragment!r} on the notify socket")

    def wait_time(self, fragment: str, timeout: float = 15, after: int = 0) -> float:
        """The monotonic time at which the message of `wait` arrived."""
        return self.messages[self.wait(fragment, timeout, after)][0]
