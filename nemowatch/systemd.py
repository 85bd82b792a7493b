"""systemd's notify protocol: READY, STATUS, WATCHDOG, STOPPING, RELOADING.

sdnotify speaks the protocol (a datagram to `$NOTIFY_SOCKET`); this wrapper
decides when. Without a socket (not started by systemd) every call is a no-op.
The watchdog interval comes from `WATCHDOG_USEC`, handed in by the command
line: pings go out at half of it, from the daemon's main loop, so a hung loop
is what systemd restarts.
"""

from __future__ import annotations

import time

import sdnotify


class Notifier:
    def __init__(self, socket: str | None, watchdog_usec: int | None = None) -> None:
        self._sd = sdnotify.SystemdNotifier() if socket else None
        if self._sd is not None and self._sd.socket is not None:
            # A full queue on systemd's side must never block the event loop:
            # a notification that cannot go out now is dropped instead.
            self._sd.socket.setblocking(False)
        self.watchdog_interval = watchdog_usec / 2e6 if socket and watchdog_usec else None
        self._status = ""
        self._next_ping = 0.0

    def _send(self, message: str) -> None:
        if self._sd is not None:
            self._sd.notify(message)

    def ready(self) -> None:
        self._send("READY=1")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        if text != self._status:
            self._status = text
            self._send(f"STATUS={text}")

    def watchdog_due_in(self, now: float) -> float | None:
        """Seconds until the next ping is due (None: no watchdog)."""
        if self.watchdog_interval is None:
            return None
        return max(0.0, self._next_ping - now)

    def ping_if_due(self, now: float) -> None:
        if self.watchdog_interval is not None and now >= self._next_ping:
            self._send("WATCHDOG=1")
            self._next_ping = now + self.watchdog_interval
