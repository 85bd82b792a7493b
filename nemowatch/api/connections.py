"""The HTTP transport of the daemon's client: httpx's own pool, on asyncio's streams.

httpx's transport keeps its pool (limits, keep-alive, TLS, proxies); only the
network backend under it is replaced (`Backend`), for CPU:

- Before each request, httpcore asks every idle pooled connection whether its
  socket became readable (a server that closed it). Through httpcore's anyio
  backend, each such question rebuilt anyio's table of socket attributes,
  asking the kernel for the peer's address on the way. Here it is one `poll`.
- Each read and write went through an anyio cancel scope and checkpoint (see
  `Stream`); here it is asyncio's stream with at most one `asyncio.timeout`.

Where httpx or httpcore do not have the layout this was written for,
`transport()` returns httpx's transport unchanged: only the CPU differs.

Importing this module also loads what the first request would load (anyio's
asyncio backend, which httpcore's locks still use), so that it is paid at
start-up, not by the first call.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx
import sniffio

# httpcore loads anyio and anyio its asyncio backend at the first request: here, at
# start-up, instead (about 18 ms of CPU, which the first minute after READY had paid)
with contextlib.suppress(ImportError):
    import anyio._backends._asyncio  # noqa: F401

#: as httpcore types a socket option
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


def transport(*, verify: bool) -> httpx.AsyncHTTPTransport:
    """httpx's transport (`verify` as `httpx.AsyncClient` takes it), on `Backend`."""
    made = httpx.AsyncHTTPTransport(verify=verify)
    pool = getattr(made, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = Backend()
    return made


@contextlib.contextmanager
def on_asyncio() -> Iterator[None]:
    """Tell sniffio, for this thread, that asyncio runs here, until the block ends.

    httpcore's locks and anyio's cancel scopes ask sniffio which library runs,
    several times per request. Unless told, sniffio finds out by asking asyncio
    for the current task: on Python 3.11 that is a `getpid` system call each time.
    """
    before, sniffio.thread_local.name = sniffio.thread_local.name, "asyncio"
    try:
        yield
    finally:
        sniffio.thread_local.name = before


def uses_backend(made: httpx.AsyncHTTPTransport) -> bool:
    """Whether `made` runs on `Backend` (what the tests check after an upgrade)."""
    return isinstance(getattr(getattr(made, "_pool", None), "_network_backend", None), Backend)


def readable(sock: socket.socket | None) -> bool:
    """Whether a read would not block (data, or the end a server's close left); a socket
    that is gone counts as readable, as in httpcore."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class Stream(httpcore.AsyncNetworkStream):
    """A connection on asyncio's own streams, as httpcore's network stream.

    httpcore's anyio streams wrap every read and write in a cancel scope and a
    checkpoint; a scope asks asyncio for the running loop several times, and
    on Python 3.11 each such question is a `getpid` system call. At a thousand
    jobs that was a tenth of the daemon's CPU. Here a read or write with a
    timeout is one `asyncio.timeout`, and the idle check is one `poll`.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._socket: socket.socket | None = writer.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadError, httpcore.ReadTimeout):
            if timeout is None:
                return await self._reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _mapped(httpcore.WriteError, httpcore.WriteTimeout):
            self._writer.write(buffer)
            if timeout is None:
                await self._writer.drain()
                return
            async with asyncio.timeout(timeout):
                await self._writer.drain()

    async def aclose(self) -> None:
        """Close at once: httpcore closes a connection it has no more use for, and a peer
        that stopped reading must not hold the close (nor its file descriptor) open."""
        self._writer.transport.abort()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self._writer.wait_closed()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with _mapped(httpcore.ConnectError, httpcore.ConnectTimeout):
                async with asyncio.timeout(timeout):
                    await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except BaseException:
            await self.aclose()
            raise
        return Stream(self._reader, self._writer)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # what asyncio read already counts: an end, an error
            reader = self._reader
            return reader.at_eof() or reader.exception() is not None or readable(self._socket)
        if info == "socket":
            return self._socket
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        return None


@contextlib.contextmanager
def _mapped(error: type[Exception], timed_out: type[Exception]) -> Iterator[None]:
    """asyncio's errors as httpcore's (which httpx turns into its own)."""
    try:
        yield
    except TimeoutError as exc:
        raise timed_out(str(exc) or "timed out") from exc
    except (OSError, ssl.SSLError, EOFError) as exc:
        raise error(str(exc) or type(exc).__name__) from exc


class Backend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio's streams."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = None if local_address is None else (local_address, 0)
        with _mapped(httpcore.ConnectError, httpcore.ConnectTimeout):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        return _with_options(Stream(reader, writer), socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _mapped(httpcore.ConnectError, httpcore.ConnectTimeout):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        return _with_options(Stream(reader, writer), socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _with_options(stream: Stream, options: Iterable[SocketOption] | None) -> Stream:
    """`stream` with httpcore's socket options set (asyncio sets TCP_NODELAY itself)."""
    sock = stream.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)
    return stream
