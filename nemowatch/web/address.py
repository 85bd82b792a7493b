"""`[web] listen` read: the host and port to bind, and whether only this machine reaches it."""

from __future__ import annotations

import ipaddress

from nemowatch.errors import UsageError

DEFAULT_PORT = 8686


def parse_listen(listen: str) -> tuple[str, int]:
    """`("127.0.0.1", 8686)` from "127.0.0.1:8686"; "[::1]:8686", "localhost:0" and a bare
    host (the default port) are understood.

    Raises:
        UsageError: the port is not a number from 0 to 65535.
    """
    text = listen.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise UsageError(f"[web] listen = {listen!r}: the port must be a number from 0 to 65535")
    return host or "127.0.0.1", port


def is_loopback(host: str) -> bool:
    """Whether only this machine can connect to `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_of(host: str, port: int) -> str:
    """The page's address for a bound host and port (IPv6 in brackets; a wildcard as
    loopback, which reaches it from this machine)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
