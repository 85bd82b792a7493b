"""The daemon's HTTP transport: httpx's own pool on streams with a cheap idle check, and
TLS, timeouts, errors and closing as httpx's own transport gives them."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import trustme

from nemowatch.api import connections

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


async def test_the_transport_runs_on_the_backend_with_the_cheap_check() -> None:
    made = connections.transport(verify=False)
    try:
        assert connections.uses_backend(made), "httpx or httpcore changed: the check is off"
    finally:
        await made.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    """The server answers, keeps the connection a moment, then closes it: the next request
    sees the socket readable (the close) and opens a new connection instead of failing."""
    accepted = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ANSWER)
        await writer.drain()
        writer.close()  # after the answer: the client's idle connection is dead
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, family=socket.AF_INET)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(transport=connections.transport(verify=False)) as http:
            for _ in range(3):
                response = await http.get(f"http://127.0.0.1:{port}/")
                assert response.text == "ok"
                await asyncio.sleep(0.05)  # the close reaches the client's socket
    finally:
        server.close()
        await server.wait_closed()
    assert accepted == 3


def test_readable_is_true_for_pending_data_or_a_gone_socket() -> None:
    left, right = socket.socketpair()
    try:
        assert not connections.readable(left)
        right.send(b"x")
        assert connections.readable(left)
    finally:
        left.close()
        right.close()
    assert connections.readable(left)  # closed: fileno() is -1
    assert connections.readable(None)


def test_what_the_first_request_loads_is_loaded_with_the_module() -> None:
    """anyio's asyncio backend, which httpcore loads at the first request, is loaded when
    the client's module is: at the daemon's start-up, not in its first idle minute."""
    probe = "import sys, nemowatch.api.client\nprint('anyio._backends._asyncio' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert found.stdout.strip() == "True", found.stderr


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A loopback server running `handler` per connection (then closing it); its port."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(run, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ANSWER)
            await writer.drain()


def client(verify: bool | ssl.SSLContext = False, **timeouts: float) -> httpx.AsyncClient:
    made = connections.transport(verify=verify)
    assert connections.uses_backend(made)
    return httpx.AsyncClient(transport=made, timeout=httpx.Timeout(5, **timeouts))


async def test_https_is_verified_and_kept_alive() -> None:
    """A certificate from the trusted authority is accepted, and the connection is kept
    for the next request; the server's name and address are what httpcore asks for."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    accepted = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await answer_ok(reader, writer)

    async with serving(serve, server_ctx) as port, client(client_ctx) as http:
        for _ in range(3):
            response = await http.get(f"https://127.0.0.1:{port}/")
            assert response.text == "ok"
            stream = response.extensions["network_stream"]
            assert stream.get_extra_info("ssl_object") is not None
            assert stream.get_extra_info("server_addr")[1] == port
    assert accepted == 1


async def test_an_untrusted_certificate_is_a_connect_error() -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_ctx)
    async with serving(answer_ok, server_ctx) as port, client(True) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://127.0.0.1:{port}/")


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes

    async with serving(silent) as port, client(read=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_reset_in_the_middle_of_a_body_is_a_read_error() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npart")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()  # linger 0: the close is a reset

    async with serving(reset) as port, client() as http:
        with pytest.raises(httpx.ReadError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_server_that_stops_reading_is_a_write_timeout_and_the_socket_is_closed() -> None:
    """An upload to a server that reads nothing: the write times out, and the connection
    is closed at once, though its buffer is full (no descriptor is left behind)."""
    hold = asyncio.Event()

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hold.wait()

    before = len(os.listdir("/proc/self/fd"))
    async with serving(deaf) as port:
        async with client(write=0.3) as http:
            with pytest.raises(httpx.WriteTimeout):
                await http.post(f"http://127.0.0.1:{port}/", content=b"x" * (64 << 20))
        hold.set()
    await asyncio.sleep(0.05)
    assert len(os.listdir("/proc/self/fd")) <= before


def test_sniffio_is_a_dependency_of_the_package() -> None:
    """httpcore asks sniffio which async library runs, several times per request; where
    sniffio is not installed it tries the import again at each question, and a request
    took 1.7 times the CPU. The test tools bring it anyway: the package must ask for it."""
    required = importlib.metadata.requires("nemowatch") or []
    assert any(r.split(">")[0].split("<")[0].strip() == "sniffio" for r in required)
