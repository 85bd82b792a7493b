"""`NemoClient`: one method per call of the NemoVideo API.

The client owns the protocol: headers, the envelope, and retries of
transient faults. The token lifecycle is in `tokens`, the edit turn's event
stream in `sse`, streaming uploads and downloads in `transfer`. Callers get
typed results or exceptions from `nemowatch.errors`, never an httpx type.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

from nemowatch.api import connections
from nemowatch.api.envelope import check, data_of, read_answer, translated
from nemowatch.api.models import (
    AnonymousToken,
    ClaimToken,
    Credits,
    RenderIds,
    RenderStatus,
    Session,
    TurnResult,
    UploadResult,
)
from nemowatch.api.retry import RetryPolicy, retry_policy
from nemowatch.api.sse import TurnEvent, stream_turn
from nemowatch.api.timeline import Draft, SessionState
from nemowatch.api.tokens import Tokens, quota_spent
from nemowatch.api.transfer import MultipartFiles, Progress, download, fetch
from nemowatch.config import ApiSettings, ExportSettings, Settings
from nemowatch.errors import (
    ApiError,
    RateLimitedError,
    ServerError,
    TransportError,
    UploadUnknownError,
)
from nemowatch.redact import redact

log = logging.getLogger("nemowatch.api")
T = TypeVar("T")

APP = "nemo_agent"


class NemoClient:
    """The NemoVideo API, one method per documented call.

    Args:
        http: the HTTP client to use (tests hand in one on a mock transport
            or pointed at the emulator); the caller closes it.
        api: the `[api]` settings (addresses, token, headers, timeouts).
        export: the `[export]` settings (format and quality of a render).
        state_dir: where the anonymous token is cached (mode 0600).
        retry: the policy for transient faults.
        clock: the monotonic clock (request timing, the stream's idle limit).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        api: ApiSettings,
        export: ExportSettings,
        *,
        state_dir: Path,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._api = api
        self._export = export
        self._retry = retry
        self._clock = clock
        self._tokens = Tokens(api, state_dir, self.anonymous_token)
        self._render_ids = RenderIds()

    def _url(self, path: str) -> str:
        return self._api.base_url + path

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {
            "X-Skill-Source": self._api.skill_source,
            "X-Skill-Version": self._api.skill_version,
            "X-Skill-Platform": self._api.skill_platform,
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _send(
        self, endpoint: str, method: str, path: str, token: str | None, **kwargs: Any
    ) -> dict[str, Any]:
        headers = self._headers(token) | kwargs.pop("headers", {})
        started = self._clock()
        url = self._url(path)
        with translated(endpoint):
            # streamed, so that an answer of absurd size is refused, not read into memory
            async with self._http.stream(method, url, headers=headers, **kwargs) as response:
                content = await read_answer(response, endpoint)
        elapsed = self._clock() - started
        log.debug("%s %s -> HTTP %d in %.2f s", method, path, response.status_code, elapsed)
        return check(response, endpoint, content)

    async def _call(self, endpoint: str, call: Callable[[str], Awaitable[T]]) -> T:
        """`call` with the token, retried after transient faults.

        The token is fetched before the retries (a failed token request was
        retried by its own loop); a 1001 ends them and renews the token once.
        """
        return await self._tokens.authorized(
            lambda token: self._retry.run(lambda: call(token), endpoint)
        )

    async def _request(
        self, endpoint: str, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        """An authorized JSON call, retried after transient faults."""
        return await self._call(
            endpoint, lambda token: self._send(endpoint, method, path, token, **kwargs)
        )

    def reconfigure(self, api: ApiSettings, export: ExportSettings) -> None:
        """Settings changed by a reload: timeouts, headers, export format, the token.

        The API address and the client id are fixed for the client's life
        (the token cache and identity hang on them); the daemon keeps those.
        """
        self._tokens.set_user_token(api.token.get_secret_value())
        self._api, self._export = api, export

    @property
    def anonymous_client_id(self) -> str | None:
        """The client id behind an anonymous token (registration links bind to it)."""
        return self._tokens.anonymous_client_id

    async def anonymous_token(self, client_id: str) -> AnonymousToken:
        """`POST /api/auth/anonymous-token`: a free token for this client id.

        Raises:
            TokenQuotaError: the 7-day quota of anonymous tokens is spent.
            ClientIdError: the client id was refused.
        """

        path, headers = "/api/auth/anonymous-token", {"X-Client-Id": client_id}

        async def once() -> dict[str, Any]:
            try:
                return await self._send("anonymous_token", "POST", path, None, headers=headers)
            except RateLimitedError as exc:  # not transient here: the quota is weekly
                raise quota_spent(exc) from exc

        anon = AnonymousToken.parse(data_of(await self._retry.run(once, "anonymous_token")))
        redact.register(anon.token)
        return anon

    async def create_session(self, language: str | None = None) -> Session:
        """`POST /api/tasks/me/with-session/nemo_agent`: a new project (in `language`,
        a preset's, or `api.language`)."""
        task = {"task_name": "project", "language": language or self._api.language}
        body = await self._request(
            "session", "POST", f"/api/tasks/me/with-session/{APP}", json=task
        )
        return Session.parse(data_of(body))

    async def claim_token(self, session: Session) -> ClaimToken:
        """`POST /api/auth/claim-token`: a token for the browser link (no API access)."""
        ids = {"task_id": session.task_id, "session_id": session.session_id}
        body = await self._request("claim_token", "POST", "/api/auth/claim-token", json=ids)
        return ClaimToken.parse(data_of(body))

    def web_link(self, claim: ClaimToken) -> str:
        """The address that opens the project in the web editor."""
        return f"{self._api.web_url}/workspace/claim?ct={claim.claim_token}"

    async def upload(
        self, session_id: str, paths: Sequence[Path], *, progress: Progress | None = None
    ) -> UploadResult:
        """`POST /api/upload-video/...`: one or several files, streamed from disk."""
        started = self._clock()
        body = MultipartFiles(paths, progress=progress)
        path = f"/api/upload-video/{APP}/me/{session_id}"
        headers = {"Content-Type": body.content_type, "Content-Length": str(body.content_length)}

        async def attempt(token: str) -> dict[str, Any]:
            try:
                return await self._send(
                    "upload", "POST", path, token, content=body, headers=headers
                )
            except TransportError as exc:
                if body.sent_whole:  # retried only while the service cannot have the files
                    raise UploadUnknownError(
                        f"upload: no answer after the whole body: {exc}"
                    ) from exc
                raise

        answer = await self._call("upload", attempt)
        return UploadResult(
            body.file_bytes, self._clock() - started, data_of(answer), sha256=dict(body.sha256)
        )

    async def upload_urls(self, session_id: str, urls: Sequence[str]) -> UploadResult:
        """`POST /api/upload-video/...` in its JSON form: the service fetches each address.

        No bytes pass through this machine (`bytes_sent` 0, no sha256). Unlike
        a streamed body, this small JSON body can be sent again whole, so
        transient faults are retried like any other call.

        Raises:
            UnsupportedFileError: 4001, an address of a type the service refuses.
            ApiCodeError: the service could not fetch an address (the emulator's 4003).
        """
        started = self._clock()
        path = f"/api/upload-video/{APP}/me/{session_id}"
        payload = {"urls": list(urls), "source_type": "url"}
        answer = await self._request("upload", "POST", path, json=payload)
        return UploadResult(0, self._clock() - started, data_of(answer))

    async def send_turn(
        self,
        session_id: str,
        text: str,
        *,
        on_event: Callable[[TurnEvent], None] | None = None,
    ) -> TurnResult:
        """`POST /run_sse`: send one instruction and read the agent's stream to its end.

        Never retried: a repeat could be charged again. A 1001 is answered
        before anything is processed, so that one is repeated with a new token.

        Raises:
            StreamIdleError: only heartbeats for `api.sse_idle_timeout_seconds`.
            TransportError: the stream broke; recover by reading the state.
        """
        payload = {
            "app_name": APP,
            "user_id": "me",
            "session_id": session_id,
            "new_message": {"parts": [{"text": text}]},
        }
        return await self._tokens.authorized(
            lambda token: stream_turn(
                self._http,
                self._url("/run_sse"),
                payload,
                headers=self._headers(token),
                idle_limit=self._api.sse_idle_timeout_seconds,
                connect_timeout=self._api.connect_timeout_seconds,
                clock=self._clock,
                on_event=on_event,
            )
        )

    async def get_state(self, session_id: str) -> SessionState:
        """`GET /api/state/.../latest`: the project's current timeline."""
        body = await self._request("state", "GET", f"/api/state/{APP}/me/{session_id}/latest")
        return SessionState.parse(data_of(body))

    async def credits(self) -> Credits:
        """`GET /api/credits/balance/simple`."""
        body = await self._request("credits", "GET", "/api/credits/balance/simple")
        return Credits.parse(data_of(body))

    async def reachable(self) -> bool:
        """Whether the service answers: one balance read, not retried (the network probe).

        Any answer but a 5xx counts: a refused token or a 429 is the service
        answering. Waits at most `api.connect_timeout_seconds` for each phase.
        """
        path, timeout = "/api/credits/balance/simple", self._api.connect_timeout_seconds
        try:
            await self._tokens.authorized(
                lambda token: self._send("credits", "GET", path, token, timeout=timeout)
            )
        except (TransportError, ServerError):
            return False
        except ApiError:
            return True
        return True

    def new_render_id(self) -> str:
        return self._render_ids.new()

    async def start_render(
        self, session_id: str, draft: Draft, render_id: str, export: ExportSettings | None = None
    ) -> str:
        """`POST /api/render/proxy/lambda`: export `draft` (costs no credits).

        The id is the caller's (journal it first); resubmitting the same id
        after a lost answer does not start a second render. `export`: a preset's
        format and quality, instead of `[export]`'s.
        """
        output = export or self._export
        body = {
            "id": render_id,
            "sessionId": session_id,  # camelCase: the one exception in the API
            "draft": draft.raw,
            "output": {"format": output.format, "quality": output.quality},
        }
        await self._request("render_submit", "POST", "/api/render/proxy/lambda", json=body)
        return render_id

    async def render_status(self, render_id: str) -> RenderStatus:
        """`GET /api/render/proxy/lambda/<id>` (the polling cadence is `jobs.rendering`'s)."""
        body = await self._request("render_poll", "GET", f"/api/render/proxy/lambda/{render_id}")
        return RenderStatus.parse(render_id, body)

    async def download(
        self,
        status: RenderStatus,
        dest: Path,
        *,
        progress: Progress | None = None,
        part: Path | None = None,
    ) -> Path:
        """Fetch a completed render into `dest`, which must not exist yet.

        `output.url` first (without the API token or any header of ours: it
        may be another host); when it is missing or fails, the API's download
        path, with retries.
        The file is written to a hidden temporary name (`part`, when the caller
        journals one), size-checked against Content-Length, fsynced, then
        linked into place whole.
        """
        url = self._url(f"/api/render/proxy/{status.render_id}/download")

        def fetch_with(token: str) -> Awaitable[Path]:
            headers = self._headers(token)
            return fetch(
                self._http,
                url,
                dest,
                "render_download",
                headers=headers,
                progress=progress,
                part=part,
            )

        async def fallback() -> Path:
            return await self._call("render_download", fetch_with)

        output_url = urljoin(self._api.base_url + "/", status.url) if status.url else None
        return await download(
            self._http, dest, output_url=output_url, fallback=fallback, progress=progress, part=part
        )


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


_NO_COOKIES = _NoCookies()


class _TokenOnlyClient(httpx.AsyncClient):
    """An HTTP client that keeps no cookies: the API authenticates with a bearer token,
    and reading each answer's cookies cost a few percent of the CPU at scale."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        pass


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[NemoClient]:
    """A `NemoClient` with its own HTTP client, closed on exit."""
    timeout = httpx.Timeout(
        settings.api.read_timeout_seconds, connect=settings.api.connect_timeout_seconds
    )
    # The certificate store costs a tenth of a second of CPU to load: an http:// API (the
    # emulator, a local proxy) uses no TLS, and is as trusted as what it links to.
    verify = not settings.api.base_url.startswith("http://")
    async with _TokenOnlyClient(
        transport=connections.transport(verify=verify),
        timeout=timeout,
        follow_redirects=True,
        verify=verify,  # for the proxies' transports
    ) as http:
        yield NemoClient(
            http,
            settings.api,
            settings.export,
            state_dir=settings.folders.state_dir,
            retry=retry_policy(settings),
        )
