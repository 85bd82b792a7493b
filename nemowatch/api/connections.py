"""The HTTP transport of the daemon's client: httpx's own, with a cheaper idle check.

Before each request, httpcore asks every idle pooled connection whether its
socket became readable (a server that closed it). Through httpcore's anyio
backend, each such question rebuilt anyio's table of socket attributes,
asking the kernel for the peer's address on the way: with eight connections
and a dozen calls per job, that was a tenth of the daemon's CPU at scale.

The streams here wrap anyio's and answer "is it readable" from the socket
they keep (one `poll`); everything else is anyio's. They are handed to the
pool httpx builds, which keeps its own limits, TLS and proxies. Where httpx
or httpcore do not have the layout this was written for, `transport()`
returns httpx's transport unchanged: only the CPU differs.

Importing this module also loads what the first request would load (anyio's
asyncio backend), so that it is paid at start-up, not by the first call.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

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
    """anyio's stream, with the idle check answered from the socket it keeps."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self._socket)
        return self._inner.get_extra_info(info)


class Backend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, making `Stream`s."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return Stream(inner)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
