"""The emulator's state: accounts, tokens, sessions, media, credits and renders.

Everything here is touched only from the emulator's event loop, so there are no
locks. Time for expiries comes from ``World.now()``, which the control surface
can push forward (``advance_clock``) to test week-long TTLs without waiting;
journal and render timestamps stay on the wall clock for benchmarks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemowatch.emulator.media import MediaKind, find_ffmpeg
from nemowatch.emulator.settings import EmulatorSettings

log = logging.getLogger(__name__)


class ApiFailure(Exception):
    """A failed call: an envelope code (HTTP 200) or an HTTP status.

    Four-digit codes travel as HTTP 200 with the code in the envelope; 4xx/5xx
    codes travel as that HTTP status with an envelope body, like the backend.
    """

    def __init__(self, code: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


# Error codes the API page does not define, chosen here and documented in the
# package docstring.
EMPTY_DRAFT = 4101
RENDER_RUNNING = 4102
RENDER_NOT_FOUND = 4103
RENDER_NOT_READY = 4104
# In the upload range, beside 4001 and 4002.
FETCH_FAILED = 4003


def user_account_id(token: str) -> str:
    """The account id of a preset user token (never the token itself)."""
    return "user:" + hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass
class Account:
    """Credits of one identity: an anonymous client id or a preset user token."""

    account_id: str
    available: int
    frozen: int = 0


@dataclass
class Token:
    """An API token; ``revoked`` is set by the ``expire_tokens`` action."""

    value: str
    account: Account
    scopes: frozenset[str]
    issued_at: float
    anonymous: bool
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        """Whether the token carries ``scope`` (``*`` carries all)."""
        return "*" in self.scopes or scope in self.scopes


@dataclass
class Media:
    """One file of a session: uploaded, or fetched by URL."""

    media_id: str
    name: str
    size: int
    kind: MediaKind
    duration_ms: int
    path: Path | None

    def info(self) -> dict[str, Any]:
        """The media as ``video_infos`` and the upload answer show it."""
        return {
            "media_id": self.media_id,
            "name": self.name,
            "size": self.size,
            "duration_ms": self.duration_ms,
            "type": self.kind,
        }


@dataclass
class Session:
    """One project: its media, its draft and a version bumped on every change."""

    session_id: str
    task_id: str
    account: Account
    last_used: float
    media: list[Media] = field(default_factory=list)
    draft: dict[str, Any] = field(default_factory=lambda: {"t": []})
    version: int = 0
    updated_at: float = field(default_factory=time.time)

    def bump(self) -> None:
        """Record that the state changed."""
        self.version += 1
        self.updated_at = time.time()


@dataclass
class Render:
    """One export job; ``completed_at`` is wall time, for benchmarks."""

    render_id: str
    session_id: str
    account: Account
    status: str = "pending"
    progress: int = 0
    created_at: float = field(default_factory=time.time)
    completed_at: float | None = None
    error: str | None = None
    path: Path | None = None
    size: int = 0
    signature: str = ""


class World:
    """All registries plus the clock, the seeded RNG and the background tasks."""

    def __init__(self, settings: EmulatorSettings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.uploads_dir = data_dir / "uploads"
        self.renders_dir = data_dir / "renders"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.renders_dir.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(settings.seed)
        self.secret = secrets.token_bytes(16)
        self.clock_offset = 0.0
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.client_tokens: dict[str, Token] = {}
        self.revoked_user_tokens: set[str] = set()
        self.issued_by_ip: dict[str, list[float]] = {}
        self.sessions: dict[str, Session] = {}
        self.renders: dict[str, Render] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ffmpeg = find_ffmpeg()

    def now(self) -> float:
        """The clock expiries are measured on (wall time plus any advance)."""
        return time.time() + self.clock_offset

    def apply_settings(self, settings: EmulatorSettings) -> None:
        """Swap in new settings; a new seed restarts the RNG sequence."""
        if settings.seed != self.settings.seed:
            self.rng = random.Random(settings.seed)
        self.settings = settings

    @property
    def ffmpeg(self) -> str | None:
        """The ffmpeg executable, unless absent or switched off by a knob."""
        return self._ffmpeg if self.settings.use_ffmpeg else None

    # Accounts and tokens.

    def account(self, account_id: str, credits: int) -> Account:
        """The account for ``account_id``, created with ``credits`` if new."""
        if account_id not in self.accounts:
            self.accounts[account_id] = Account(account_id, credits)
        return self.accounts[account_id]

    def issue_anonymous(self, client_id: str, ip: str) -> tuple[Token, bool]:
        """The client's valid token, or a new one; returns (token, is_new).

        Raises:
            ApiFailure: 429 when the per-IP quota of new tokens is spent.
        """
        current = self.client_tokens.get(client_id)
        if current is not None and self._usable(current):
            return current, False
        window_start = self.now() - self.settings.anon_token_quota_window_seconds
        issued = [t for t in self.issued_by_ip.get(ip, []) if t > window_start]
        if len(issued) >= self.settings.anon_token_quota:
            raise ApiFailure(429, "anonymous token quota for this address is spent")
        self.issued_by_ip[ip] = [*issued, self.now()]
        token = Token(
            value="nmv_usr_" + secrets.token_hex(16),
            account=self.account(client_id, self.settings.credits),
            scopes=frozenset(self.settings.anonymous_scopes),
            issued_at=self.now(),
            anonymous=True,
        )
        self.tokens[token.value] = token
        self.client_tokens[client_id] = token
        return token, True

    def authenticate(self, value: str) -> Token:
        """The token behind a bearer value.

        Raises:
            ApiFailure: 1001 when unknown, expired or revoked.
        """
        token = self.tokens.get(value)
        if token is None:
            spec = self.settings.user_tokens.get(value)
            if spec is not None and value not in self.revoked_user_tokens:
                token = Token(
                    value=value,
                    account=self.account(user_account_id(value), spec.credits),
                    scopes=frozenset(spec.scopes),
                    issued_at=self.now(),
                    anonymous=False,
                )
                self.tokens[value] = token
        if token is None or not self._usable(token):
            raise ApiFailure(1001, "token invalid or expired")
        return token

    def _usable(self, token: Token) -> bool:
        if token.revoked:
            return False
        if not token.anonymous:
            return True
        return self.now() - token.issued_at < self.settings.token_ttl_seconds

    def expire_tokens(self) -> None:
        """Make every current token answer 1001 from now on."""
        for token in self.tokens.values():
            token.revoked = True
            if not token.anonymous:
                self.revoked_user_tokens.add(token.value)
        self.revoked_user_tokens.update(self.settings.user_tokens)

    def set_credits(self, value: int, account_id: str | None = None) -> int:
        """Set the available credits of one account or of all; returns how many."""
        targets = [self.accounts[account_id]] if account_id else list(self.accounts.values())
        for account in targets:
            account.available = value
        return len(targets)

    # Sessions.

    def new_session(self, account: Account) -> Session:
        """Open a project session for ``account``."""
        session = Session(
            session_id="ses_" + secrets.token_hex(12),
            task_id="task_" + secrets.token_hex(12),
            account=account,
            last_used=self.now(),
        )
        self.sessions[session.session_id] = session
        return session

    def session(self, session_id: str, account: Account) -> Session:
        """A live session of ``account``, touched as used.

        Raises:
            ApiFailure: 1002 when unknown, another account's, or idle too long.
        """
        session = self.sessions.get(session_id)
        if session is not None and self.now() - session.last_used > (
            self.settings.session_ttl_seconds
        ):
            del self.sessions[session_id]
            session = None
        if session is None or session.account is not account:
            raise ApiFailure(1002, "session not found or expired")
        session.last_used = self.now()
        return session

    def lose_sessions(self) -> None:
        """Forget every session, as if the backend lost them."""
        self.sessions.clear()

    # Background work.

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work that outlives the request (turns, second stages, renders)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator background task failed", exc_info=task.exception())

    async def close(self) -> None:
        """Cancel and await every background task."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
