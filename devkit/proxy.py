"""A loopback TCP proxy that takes the network away on request, for tests and benchmarks.

Put it between a client (the daemon, a `NemoClient`) and the emulator, and
point the client's `api.base_url` at `proxy.url`. It runs an event loop of its
own in a thread; every method is called from the test's thread.

    with Proxy(emulator.url) as proxy:
        ...                      # "pass": bytes go through both ways
        proxy.cut()              # "refuse" new connections, and reset the open ones
        proxy.restore()          # "pass" again

Modes, for connections accepted from then on:

- `PASS`: forwarded to the target, both ways.
- `REFUSE`: reset at once (RST), before a byte is read: what a client sees
  when the route is gone.
- `HANG`: accepted, read and never answered (the client's timeouts fire).

`reset()` resets every open connection (both sides), whatever the mode: keep-
alive connections opened before a `REFUSE` would otherwise go on working.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

PASS, REFUSE, HANG = "pass", "refuse", "hang"
MODES = (PASS, REFUSE, HANG)
CHUNK = 64 * 1024


@dataclass(eq=False)  # kept in a set, by identity
class _Link:
    """One accepted connection: its two sides and the tasks that pump between them."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Proxy:
    """A TCP proxy on 127.0.0.1 (a free port) to `target` ("http://host:port").

    Attributes:
        accepted: connections accepted so far (any mode).
        refused: connections reset at once in `REFUSE` mode.
        changed_at: `time.monotonic()` of the last mode change.
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"the target needs a host and a port: {target!r}")
        self._target = (parts.hostname, parts.port)
        self._scheme = parts.scheme or "http"
        self.mode = PASS
        self.accepted = self.refused = 0
        self.changed_at = time.monotonic()
        self.port = 0
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Proxy:
        self._thread = threading.Thread(target=self._run, name="devkit-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._failed is not None or not self.port:
            self.stop()
            raise RuntimeError(f"the proxy did not start: {self._failed}")
        return self

    def stop(self) -> None:
        """Reset every connection, close the port and end the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what the tests do ------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode  # read by the accepting side at each new connection
        self.changed_at = time.monotonic()

    def reset(self) -> int:
        """Reset (RST) every open connection, both sides; how many there were."""
        assert self._loop is not None, "the proxy is not started"
        future = asyncio.run_coroutine_threadsafe(self._reset_all(), self._loop)
        return future.result(10)

    def cut(self) -> int:
        """The network goes away: refuse new connections, reset the open ones."""
        self.set_mode(REFUSE)
        return self.reset()

    def restore(self) -> None:
        """The network comes back."""
        self.set_mode(PASS)

    # -- inside: the proxy's own thread ---------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._failed = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            await self._reset_all()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        mode = self.mode
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        if mode == REFUSE:
            self.refused += 1
            _rst(writer)
            return
        link = _Link(writer)
        self._links.add(link)
        try:
            if mode == HANG:
                while await reader.read(CHUNK):
                    pass
                return
            try:
                up_reader, link.upstream = await asyncio.open_connection(*self._target)
            except OSError:
                _rst(writer)
                return
            link.tasks = [
                asyncio.create_task(_pump(reader, link.upstream)),
                asyncio.create_task(_pump(up_reader, writer)),
            ]
            # when one side is done, so is the exchange
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(link)
            for task in link.tasks:
                task.cancel()
            await asyncio.gather(*link.tasks, return_exceptions=True)
            for side in (writer, link.upstream):
                if side is not None:
                    side.close()

    async def _reset_all(self) -> int:
        links = list(self._links)
        for link in links:
            for side in (link.client, link.upstream):
                if side is not None:
                    _rst(side)
            for task in link.tasks:
                task.cancel()
        await asyncio.sleep(0)  # the handlers see their sockets gone and finish
        return len(links)


async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        pass


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), as a dead route or a firewall's reject does."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.fileno() != -1:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()
