"""The daemon's HTTP transport: httpx's own pool on streams with a cheap idle check."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import httpx

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
