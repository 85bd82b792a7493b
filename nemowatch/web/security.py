"""Who may use the web page over TCP: logins, sessions, CSRF, the Host header, headers.

The Unix socket is its user's alone (mode 0600): what comes in on it passes.
Over TCP (`[web] listen`), every request goes through `guard`:

    Host header not an address of this server      421  (DNS rebinding)
    /static/*, /login, /metrics                    pass (metrics check their own token)
    no valid session                               303 to /login (pages), 403 (API)
    POST/PUT/... without the CSRF token, or from
    another origin (Origin, Sec-Fetch-Site)        403

A login is the Jupyter model: `nemowatch web` asks the daemon (over the
socket) for a one-time token, prints the address that carries it, and
`GET /login?token=...` turns it into a session cookie (HttpOnly,
SameSite=Strict); the token is spent. `[web] password` allows a login form
as well. The CSRF token is derived from the session (an HMAC), put into the
page, and sent back in the `x-csrftoken` header or a `csrftoken` form field; in a
multipart form (the drop zone without JavaScript) that field must come first,
and it is checked before any file is read (the handler goes on with the rest
of the body from `MULTIPART`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import BodyPartReader, MultipartReader, web

from nemowatch.web.routes import Handler, answer, over_unix_socket

SESSION_COOKIE = "nemowatch_session"
CSRF_HEADER = "x-csrftoken"
CSRF_FIELD = "csrftoken"
#: a login address from `nemowatch web` is good for this long, and once
TOKEN_SECONDS = 600.0
#: a session unused for this long ends
SESSION_IDLE_SECONDS = 14 * 24 * 3600.0
#: wrong passwords in a row before the form waits
PASSWORD_TRIES = 5
PASSWORD_LOCK_SECONDS = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass
class Logins:
    """Sessions and one-time login tokens, in memory (a restart asks for a new login).

    Args:
        password: `[web] password` ("" for none: only token logins).
        clock: the monotonic clock.
    """

    password: str = ""
    clock: Callable[[], float] = time.monotonic
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry
    _sessions: dict[str, float] = field(default_factory=dict)  # session id -> last use
    _wrong: int = 0
    _locked_until: float = 0.0

    def mint(self) -> str:
        """A one-time login token (for `nemowatch web`)."""
        now = self.clock()
        self._tokens = {t: until for t, until in self._tokens.items() if until > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = now + TOKEN_SECONDS
        return token

    def spend(self, token: str) -> str | None:
        """A new session id for a valid token (which is then spent), else None."""
        for known in list(self._tokens):
            if hmac.compare_digest(known.encode(), token.encode()):
                until = self._tokens.pop(known)
                return self._open() if until > self.clock() else None
        return None

    def check_password(self, given: str) -> str | None:
        """A new session id for the right password, else None (a few wrong ones lock it)."""
        now = self.clock()
        if not self.password or now < self._locked_until:
            return None
        if hmac.compare_digest(given.encode(), self.password.encode()):
            self._wrong = 0
            return self._open()
        self._wrong += 1
        if self._wrong >= PASSWORD_TRIES:
            self._wrong, self._locked_until = 0, now + PASSWORD_LOCK_SECONDS
        return None

    def session(self, sid: str | None) -> str | None:
        """`sid` when it is a live session (its use is noted), else None."""
        if not sid or sid not in self._sessions:
            return None
        now = self.clock()
        if now - self._sessions[sid] > SESSION_IDLE_SECONDS:
            del self._sessions[sid]
            return None
        self._sessions[sid] = now
        return sid

    def end(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def csrf(self, sid: str) -> str:
        """The CSRF token of a session (what the page carries)."""
        return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()

    def _open(self) -> str:
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = self.clock()
        return sid


LOGINS = web.AppKey[Logins]("logins")
#: a multipart form's reader, past its CSRF field (read by `guard`)
MULTIPART = web.RequestKey[MultipartReader]("multipart")
#: the most of a CSRF field that is read (the token is 64 characters)
CSRF_MAX = 256
#: `[web] public_url`: its host is one more name the Host header may carry
PUBLIC_URL = web.AppKey[str]("public_url")


def session_of(request: web.Request) -> str | None:
    """The request's live session id (None over the socket or without a login)."""
    return request.app[LOGINS].session(request.cookies.get(SESSION_COOKIE))


def csrf_of(request: web.Request) -> str:
    """The CSRF token for the page of this request ("" over the socket)."""
    sid = session_of(request)
    return request.app[LOGINS].csrf(sid) if sid else ""


def set_session(response: web.StreamResponse, sid: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, sid, httponly=True, samesite="Strict", path="/", secure=secure
    )


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Headers that forbid framing, sniffing and foreign scripts, on every answer."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The checks of the module's docstring, for TCP requests."""
    if over_unix_socket(request):
        return await handler(request)
    if not host_allowed(request):
        return web.Response(
            status=421,
            text="this server does not answer to that Host name (see [web] public_url)\n",
        )
    path = request.path
    if path.startswith("/api/web/"):  # the login tokens: the socket's user only
        return refuse("only over the daemon's Unix socket", 403)
    if path == "/metrics" or path.startswith("/static/"):  # metrics: their own token
        return await handler(request)
    if path == "/login":
        if request.method not in SAFE_METHODS and not same_origin(request):
            return refuse("a login from another site is refused", 403)
        return await handler(request)
    sid = session_of(request)
    if sid is None:
        if path.startswith("/api/") or request.method not in SAFE_METHODS:
            return refuse("log in first: `nemowatch web` prints the address", 403)
        raise web.HTTPSeeOther("/login")
    if request.method not in SAFE_METHODS:
        if not same_origin(request):
            return refuse("a request from another site is refused", 403)
        given = request.headers.get(CSRF_HEADER, "")
        if not given and request.content_type == "application/x-www-form-urlencoded":
            given = str((await request.post()).get(CSRF_FIELD, ""))
        elif not given and request.content_type == "multipart/form-data":
            given = await _multipart_token(request)
        expected = request.app[LOGINS].csrf(sid)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return refuse("the CSRF token is missing or wrong: reload the page", 403)
    return await handler(request)


async def _multipart_token(request: web.Request) -> str:
    """The CSRF token of a multipart form: its first field, read before any file."""
    reader = await request.multipart()
    request[MULTIPART] = reader
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != CSRF_FIELD:
        return ""
    data = b""
    while len(data) <= CSRF_MAX and (chunk := await part.read_chunk(CSRF_MAX)):
        data += chunk
    return data.decode(errors="replace") if len(data) <= CSRF_MAX else ""


def refuse(why: str, status: int) -> web.Response:
    return answer({"error": why, "ids": []}, status)


def same_origin(request: web.Request) -> bool:
    """Whether the browser says the request comes from this server's own page."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET-like navigation
    if origin == "null":
        # A form posted by our own page says "null" (its Referrer-Policy is no-referrer),
        # and so does a sandboxed frame of any site: only Sec-Fetch-Site tells them apart.
        return fetch_site == "same-origin"
    parts = urlsplit(origin)
    return parts.netloc.lower() == request.host.lower()


def host_allowed(request: web.Request) -> bool:
    """Whether the Host header names this server: a loopback name or the address the
    connection came in on (with its port), this machine's name, or `[web] public_url`."""
    host = request.headers.get("Host", "")
    name, port = split_host(host)
    public = urlsplit(request.app[PUBLIC_URL]) if request.app[PUBLIC_URL] else None
    if public is not None and host.lower() == public.netloc.lower():
        return True
    local = request.transport.get_extra_info("sockname") if request.transport else None
    if not local or port != int(local[1]):
        return False
    names = {"localhost", str(local[0]).lower(), socket.gethostname().lower()}
    if public is not None and public.hostname:
        names.add(public.hostname.lower())
    return name in names or _loopback(name)


def split_host(host: str) -> tuple[str, int | None]:
    """`("example.org", 8686)` from "example.org:8686"; IPv6 literals lose their brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port_text = host.partition(":")
    try:
        return name, int(port_text) if port_text else None
    except ValueError:
        return name, -1


def _loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return name.endswith(".localhost")
