"""The token every call carries, and its lifecycle.

The user's own token (`api.token` / `NEMO_TOKEN`) is used as it is; a 1001
for it means it must be replaced (`TokenRejectedError`). Without one, an
anonymous token is taken from the 0600 cache or obtained with the client id,
and renewed once when the server answers 1001. The token is fetched before a
call's retry loop, never inside it, so a failed token request is retried by
its own loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from nemowatch.api.auth import CachedToken, ClientIdSource, TokenCache
from nemowatch.api.models import AnonymousToken
from nemowatch.config import ApiSettings
from nemowatch.errors import (
    ClientIdError,
    RateLimitedError,
    TokenError,
    TokenQuotaError,
    TokenRejectedError,
)
from nemowatch.redact import redact

log = logging.getLogger("nemowatch.api")
T = TypeVar("T")

ANONYMOUS_TOKEN_DAYS = 7

#: the anonymous-token call: a client id in, a token out
FetchAnonymous = Callable[[str], Awaitable[AnonymousToken]]


def quota_spent(exc: RateLimitedError) -> TokenQuotaError:
    """What a 429 on the anonymous-token call means: no more free tokens this week."""
    return TokenQuotaError(
        "the anonymous-token quota is spent; set NEMO_TOKEN to your own token",
        code=exc.code,
        http_status=exc.http_status,
        endpoint=exc.endpoint,
        retry_after=exc.retry_after,
    )


class Tokens:
    """The current token: the user's own, or an anonymous one (cached, renewed on 1001).

    Args:
        api: the `[api]` settings (the user's token, the client id, the API address).
        state_dir: where the anonymous token is cached (mode 0600).
        fetch: the anonymous-token call (`NemoClient.anonymous_token`).
    """

    def __init__(self, api: ApiSettings, state_dir: Path, fetch: FetchAnonymous) -> None:
        self._fetch = fetch
        self._client_ids = ClientIdSource(api.client_id, api.client_id_file)
        self._cache = TokenCache(state_dir, api.base_url)
        self._lock = asyncio.Lock()
        self._user_token = api.token.get_secret_value().strip()
        redact.register(self._user_token)
        self._token: str | None = self._user_token or None
        #: why the token in hand is not in the cache (shown by `status`), or None
        self.unsaved: str | None = None

    def set_user_token(self, token: str) -> None:
        """The user's token changed (a reload); "" means an anonymous one, fetched when needed.

        The same token again changes nothing: an anonymous token in hand is kept.
        """
        token = token.strip()
        if token != self._user_token:
            redact.register(token)
            self._user_token = token
            self._token = token or None

    @property
    def anonymous_client_id(self) -> str | None:
        """The client id behind an anonymous token (registration links bind to it)."""
        return None if self._user_token else self._client_ids.get()

    async def authorized(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call` with the token; on 1001 renew an anonymous token and repeat once.

        Raises:
            TokenRejectedError: the user's own token was refused.
        """
        token = await self.current()
        try:
            return await call(token)
        except TokenError as exc:
            if self._user_token:
                raise TokenRejectedError(
                    "the configured API token was rejected; replace api.token / NEMO_TOKEN",
                    code=exc.code,
                    http_status=exc.http_status,
                    endpoint=exc.endpoint,
                ) from exc
            log.info("the anonymous token expired; requesting a new one")
            token = await self.renew(token)
            return await call(token)

    async def current(self) -> str:
        """The token to send: the one in hand, else a cached one, else a new one."""
        if self._token:
            return self._token
        async with self._lock:
            if not self._token:
                client_id = self._client_ids.get()
                cached = self._cache.load()
                if cached and cached.client_id == client_id and cached.usable(time.time()):
                    self._token = cached.token
                else:
                    self._token = await self._acquire(client_id)
            return self._token

    async def renew(self, failed: str) -> str:
        """A new anonymous token in place of `failed`, unless another call renewed it already."""
        async with self._lock:
            if self._token and self._token != failed:
                return self._token  # another call renewed it meanwhile
            with contextlib.suppress(OSError):  # the token in memory is replaced anyway
                self._cache.forget()
            self._token = await self._acquire(self._client_ids.get())
            return self._token

    async def _acquire(self, client_id: str) -> str:
        try:
            anon = await self._fetch(client_id)
        except ClientIdError:
            anon = await self._fetch(self._client_ids.regenerate())
        lifetime = anon.expires_in or ANONYMOUS_TOKEN_DAYS * 86400
        try:
            self._cache.save(
                CachedToken(anon.token, self._client_ids.get(), time.time() + lifetime)
            )
        except OSError as exc:  # a full or read-only state folder: the token still works
            self.unsaved = f"the token cache cannot be saved ({exc.strerror or exc})"
            log.warning("%s; the token is kept in memory until nemowatch stops", self.unsaved)
        else:
            self.unsaved = None
        log.info("obtained an anonymous NemoVideo token (%s credits)", anon.credits)
        return anon.token
