"""`NemoClient`: one method per call of the NemoVideo API.

The client owns the protocol: headers, the token and its renewal, the
envelope, retries of transient faults, streaming uploads and downloads, and
the edit turn's event stream. Callers get typed results or exceptions from
`nemowatch.errors`, never an httpx type.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
from httpx_sse import EventSource, aconnect_sse

from nemowatch.api.auth import CachedToken, ClientIdSource, TokenCache
from nemowatch.api.envelope import check, data_of, translated
from nemowatch.api.models import (
    AnonymousToken,
    ClaimToken,
    Credits,
    RenderState,
    RenderStatus,
    Session,
    TurnResult,
    UploadResult,
)
from nemowatch.api.retry import RetryPolicy
from nemowatch.api.sse import EventKind, TurnEvent, TurnText, parse_event
from nemowatch.api.timeline import Draft, SessionState
from nemowatch.api.transfer import MultipartFiles, PartFile, Progress
from nemowatch.config import ApiSettings, ExportSettings, Settings
from nemowatch.errors import (
    AgentError,
    ApiError,
    ClientIdError,
    IncompleteDownloadError,
    RateLimitedError,
    RenderFailedError,
    RenderTimeoutError,
    StreamIdleError,
    TokenError,
    TokenQuotaError,
    TokenRejectedError,
    TransportError,
    error_for_code,
)
from nemowatch.redact import redact

log = logging.getLogger("nemowatch.api")
T = TypeVar("T")

APP = "nemo_agent"
ANONYMOUS_TOKEN_DAYS = 7
#: how much longer each render poll waits than the one before
POLL_GROWTH = 1.5
#: the shortest wait between two polls timed by the render's progress
POLL_FLOOR = 0.5


class RenderIds:
    """`render_<unix-ms>` ids, strictly increasing within the process."""

    def __init__(self) -> None:
        self._last = 0

    def new(self) -> str:
        self._last = max(int(time.time() * 1000), self._last + 1)
        return f"render_{self._last}"


class NemoClient:
    """The NemoVideo API, one method per documented call.

    Args:
        http: the HTTP client to use (tests hand in one on a mock transport
            or pointed at the emulator); the caller closes it.
        api: the `[api]` settings (addresses, token, headers, timeouts).
        export: the `[export]` settings (format, quality, render polling).
        state_dir: where the anonymous token is cached (mode 0600).
        retry: the policy for transient faults.
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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._api = api
        self._export = export
        self._retry = retry
        self._clock = clock
        self._sleep = sleep
        self._user_token = api.token.get_secret_value().strip()
        redact.register(self._user_token)
        self._token: str | None = self._user_token or None
        self._token_lock = asyncio.Lock()
        self._client_ids = ClientIdSource(api.client_id, api.client_id_file)
        self._cache = TokenCache(state_dir, api.base_url)
        self._render_ids = RenderIds()

    # -- plumbing ---------------------------------------------------------

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
        with translated(endpoint):
            response = await self._http.request(method, self._url(path), headers=headers, **kwargs)
        log.debug(
            "%s %s -> HTTP %d in %.2f s",
            method,
            path,
            response.status_code,
            self._clock() - started,
        )
        return check(response, endpoint)

    async def _authorized(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call` with the token; on 1001 renew an anonymous token and repeat once."""
        token = await self._current_token()
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
            token = await self._renew_token(token)
            return await call(token)

    async def _request(
        self, endpoint: str, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        """An authorized JSON call, retried after transient faults."""

        async def once() -> dict[str, Any]:
            return await self._authorized(
                lambda token: self._send(endpoint, method, path, token, **kwargs)
            )

        return await self._retry.run(once, endpoint)

    def reconfigure(self, api: ApiSettings, export: ExportSettings) -> None:
        """Settings changed by a reload: timeouts, headers, polling, the token.

        The API address and the client id are fixed for the client's life
        (the token cache and identity hang on them); the daemon keeps those.
        """
        new_token = api.token.get_secret_value().strip()
        if new_token != self._user_token:
            redact.register(new_token)
            self._user_token = new_token
            self._token = new_token or None  # an anonymous one is fetched when next needed
        self._api, self._export = api, export

    # -- identity ---------------------------------------------------------

    @property
    def anonymous_client_id(self) -> str | None:
        """The client id behind an anonymous token (registration links bind to it)."""
        return None if self._user_token else self._client_ids.get()

    async def _current_token(self) -> str:
        if self._token:
            return self._token
        async with self._token_lock:
            if not self._token:
                client_id = self._client_ids.get()
                cached = self._cache.load()
                if cached and cached.client_id == client_id and cached.usable(time.time()):
                    self._token = cached.token
                else:
                    self._token = await self._acquire(client_id)
            return self._token

    async def _renew_token(self, failed: str) -> str:
        async with self._token_lock:
            if self._token and self._token != failed:
                return self._token  # another call renewed it meanwhile
            self._cache.forget()
            self._token = await self._acquire(self._client_ids.get())
            return self._token

    async def _acquire(self, client_id: str) -> str:
        try:
            anon = await self.anonymous_token(client_id)
        except ClientIdError:
            anon = await self.anonymous_token(self._client_ids.regenerate())
        lifetime = anon.expires_in or ANONYMOUS_TOKEN_DAYS * 86400
        self._cache.save(CachedToken(anon.token, self._client_ids.get(), time.time() + lifetime))
        log.info("obtained an anonymous NemoVideo token (%s credits)", anon.credits)
        return anon.token

    async def anonymous_token(self, client_id: str) -> AnonymousToken:
        """`POST /api/auth/anonymous-token`: a free token for this client id.

        Raises:
            TokenQuotaError: the 7-day quota of anonymous tokens is spent.
            ClientIdError: the client id was refused.
        """

        async def once() -> dict[str, Any]:
            try:
                return await self._send(
                    "anonymous_token",
                    "POST",
                    "/api/auth/anonymous-token",
                    None,
                    headers={"X-Client-Id": client_id},
                )
            except RateLimitedError as exc:
                raise TokenQuotaError(
                    "the anonymous-token quota is spent; set NEMO_TOKEN to your own token",
                    code=exc.code,
                    http_status=exc.http_status,
                    endpoint=exc.endpoint,
                    retry_after=exc.retry_after,
                ) from exc

        data = data_of(await self._retry.run(once, "anonymous_token"))
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise TransportError("anonymous_token: the answer held no token")
        redact.register(token)
        return AnonymousToken(token, _number(data.get("credits")), _number(data.get("expires_in")))

    # -- the calls --------------------------------------------------------

    async def create_session(self) -> Session:
        """`POST /api/tasks/me/with-session/nemo_agent`: a new project."""
        body = await self._request(
            "session",
            "POST",
            f"/api/tasks/me/with-session/{APP}",
            json={"task_name": "project", "language": self._api.language},
        )
        data = data_of(body)
        session_id = data.get("session_id")
        if not session_id:
            raise TransportError("session: the answer held no session_id")
        return Session(task_id=str(data.get("task_id", "")), session_id=str(session_id))

    async def claim_token(self, session: Session) -> ClaimToken:
        """`POST /api/auth/claim-token`: a token for the browser link (no API access)."""
        body = await self._request(
            "claim_token",
            "POST",
            "/api/auth/claim-token",
            json={"task_id": session.task_id, "session_id": session.session_id},
        )
        data = data_of(body)
        claim = data.get("claim_token")
        if not isinstance(claim, str) or not claim:
            raise TransportError("claim_token: the answer held no claim_token")
        return ClaimToken(claim, _number(data.get("expires_in")))

    def web_link(self, claim: ClaimToken) -> str:
        """The address that opens the project in the web editor."""
        return f"{self._api.web_url}/workspace/claim?ct={claim.claim_token}"

    async def upload(
        self, session_id: str, paths: Sequence[Path], *, progress: Progress | None = None
    ) -> UploadResult:
        """`POST /api/upload-video/...`: one or several files, streamed from disk."""
        started = self._clock()
        body = MultipartFiles(paths, progress=progress)
        answer = await self._request(
            "upload",
            "POST",
            f"/api/upload-video/{APP}/me/{session_id}",
            content=body,
            headers={
                "Content-Type": body.content_type,
                "Content-Length": str(body.content_length),
            },
        )
        return UploadResult(body.file_bytes, self._clock() - started, data_of(answer))

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
        return await self._authorized(lambda token: self._stream_turn(token, payload, on_event))

    async def _stream_turn(
        self,
        token: str,
        payload: dict[str, Any],
        on_event: Callable[[TurnEvent], None] | None,
    ) -> TurnResult:
        timeout = httpx.Timeout(
            self._api.sse_idle_timeout_seconds, connect=self._api.connect_timeout_seconds
        )
        with translated("run_sse"):
            async with aconnect_sse(
                self._http,
                "POST",
                self._url("/run_sse"),
                json=payload,
                headers=self._headers(token),
                timeout=timeout,
            ) as source:
                response = source.response
                if response.status_code >= 400 or "text/event-stream" not in response.headers.get(
                    "content-type", ""
                ):
                    await response.aread()
                    check(response, "run_sse")
                    raise TransportError("run_sse: the answer was not an event stream")
                return await self._read_turn(source, on_event)

    async def _read_turn(
        self, source: EventSource, on_event: Callable[[TurnEvent], None] | None
    ) -> TurnResult:
        idle_limit = self._api.sse_idle_timeout_seconds
        collected = TurnText()
        events = heartbeats = 0
        last_progress = self._clock()
        stream = source.aiter_sse().__aiter__()
        while True:
            remaining = idle_limit - (self._clock() - last_progress)
            try:
                sse = await asyncio.wait_for(anext(stream), timeout=max(remaining, 0))
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise StreamIdleError(
                    f"run_sse: no progress for {idle_limit:g} s (heartbeats only); "
                    "the turn is treated as lost"
                ) from None
            for event in parse_event(sse):
                events += 1
                if event.kind is EventKind.HEARTBEAT:
                    heartbeats += 1
                if event.is_progress:
                    last_progress = self._clock()
                if event.kind is EventKind.ERROR:
                    raise _stream_error(event)
                if event.kind in (EventKind.TOOL_CALL, EventKind.TOOL_RESULT):
                    log.debug("agent %s: %s", event.kind.value, event.name)
                collected.add(event)
                if on_event:
                    on_event(event)
        return TurnResult(collected.result(), tuple(collected.tool_calls), events, heartbeats)

    async def get_state(self, session_id: str) -> SessionState:
        """`GET /api/state/.../latest`: the project's current timeline."""
        body = await self._request("state", "GET", f"/api/state/{APP}/me/{session_id}/latest")
        return SessionState.parse(data_of(body))

    async def credits(self) -> Credits:
        """`GET /api/credits/balance/simple`."""
        data = data_of(await self._request("credits", "GET", "/api/credits/balance/simple"))
        return Credits(
            available=_number(data.get("available")) or 0,
            frozen=_number(data.get("frozen")) or 0,
            total=_number(data.get("total")) or 0,
        )

    def new_render_id(self) -> str:
        return self._render_ids.new()

    async def start_render(self, session_id: str, draft: Draft, render_id: str) -> str:
        """`POST /api/render/proxy/lambda`: export `draft` (costs no credits).

        The id is the caller's (journal it first); resubmitting the same id
        after a lost answer does not start a second render.
        """
        await self._request(
            "render_submit",
            "POST",
            "/api/render/proxy/lambda",
            json={
                "id": render_id,
                "sessionId": session_id,  # camelCase: the one exception in the API
                "draft": draft.raw,
                "output": {"format": self._export.format, "quality": self._export.quality},
            },
        )
        return render_id

    async def render_status(self, render_id: str) -> RenderStatus:
        """`GET /api/render/proxy/lambda/<id>`."""
        body = await self._request("render_poll", "GET", f"/api/render/proxy/lambda/{render_id}")
        return RenderStatus.parse(render_id, body)

    async def wait_for_render(
        self,
        render_id: str,
        *,
        on_progress: Callable[[RenderStatus], None] | None = None,
    ) -> RenderStatus:
        """Poll until the render completes, waiting longer between polls as it runs.

        The wait starts at `export.poll_first_seconds` and grows to
        `export.poll_max_seconds`; when the server reports progress, the next
        poll is not put off past the estimated completion.

        Raises:
            RenderFailedError: the render ended failed.
            RenderTimeoutError: not completed within `export.timeout_seconds`.
        """
        started = self._clock()
        interval = self._export.poll_first_seconds
        while True:
            status = await self.render_status(render_id)
            if on_progress:
                on_progress(status)
            if status.state is RenderState.COMPLETED:
                return status
            if status.state is RenderState.FAILED:
                raise RenderFailedError(
                    f"render {render_id} failed{': ' + status.message if status.message else ''}"
                )
            elapsed = self._clock() - started
            left = self._export.timeout_seconds - elapsed
            if left <= 0:
                raise RenderTimeoutError(f"render {render_id} not completed after {elapsed:.0f} s")
            await self._sleep(min(self._poll_wait(interval, status, elapsed), left))
            interval = min(interval * POLL_GROWTH, self._export.poll_max_seconds)

    def _poll_wait(self, interval: float, status: RenderStatus, elapsed: float) -> float:
        """The usual growing interval or, when progress is reported, half the predicted
        time left: progress often lags (it may move in steps of 10 %), so the polls close
        in on the end rather than aim at it. Never sooner than `POLL_FLOOR`."""
        progress = status.progress
        if progress is None or not 0 < progress < 100 or elapsed <= 0:
            return interval
        estimate = elapsed * (100 - progress) / progress
        floor = min(self._export.poll_first_seconds, POLL_FLOOR)
        return min(interval, max(floor, estimate / 2))

    async def download(
        self, status: RenderStatus, dest: Path, *, progress: Progress | None = None
    ) -> Path:
        """Fetch a completed render into `dest`, which must not exist yet.

        `output.url` first (without the API token or any header of ours: it
        may be another host);
        when it is missing or fails, the API's download path, with retries.
        The file is written to a hidden temporary name, size-checked against
        Content-Length, fsynced, then linked into place whole.
        """
        if dest.exists():
            raise FileExistsError(f"{dest} exists; a result is never overwritten")
        if status.url:
            url = urljoin(self._api.base_url + "/", status.url)
            try:
                return await self._fetch(url, dest, "output", None, progress)
            except ApiError as exc:
                log.warning("download from output.url failed (%s); using the fallback", exc)

        async def once() -> Path:
            return await self._authorized(
                lambda token: self._fetch(
                    self._url(f"/api/render/proxy/{status.render_id}/download"),
                    dest,
                    "render_download",
                    token,
                    progress,
                )
            )

        return await self._retry.run(once, "render_download")

    async def _fetch(
        self, url: str, dest: Path, endpoint: str, token: str | None, progress: Progress | None
    ) -> Path:
        async with PartFile(dest) as part:
            with translated(endpoint):
                # output.url may be another host (a signed link): it gets none of our headers.
                headers = self._headers(token) if token else {}
                async with self._http.stream("GET", url, headers=headers) as response:
                    if response.status_code >= 400 or response.headers.get(
                        "content-type", ""
                    ).startswith("application/json"):
                        await response.aread()
                        check(response, endpoint)
                        raise TransportError(f"{endpoint}: a JSON answer instead of the video")
                    expected = _content_length(response)
                    # Decoded bytes to disk (a Content-Encoding is undone); the
                    # size check counts the bytes on the wire, as Content-Length does.
                    async for chunk in response.aiter_bytes():
                        await part.write(chunk)
                        if progress:
                            progress(response.num_bytes_downloaded, expected or 0)
                    received = response.num_bytes_downloaded
            if expected is not None and received != expected:
                raise IncompleteDownloadError(
                    f"{endpoint}: received {received} of {expected} bytes"
                )
            return await part.publish()


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _stream_error(event: TurnEvent) -> ApiError:
    if event.code.strip().lstrip("-").isdigit():
        return error_for_code(int(event.code), event.text or "error event", endpoint="run_sse")
    return AgentError(event.text or "no message", code_text=event.code)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        retries=settings.jobs.retries,
        base_seconds=settings.api.retry_base_seconds,
        max_seconds=settings.api.retry_max_seconds,
        rate_limit_seconds=settings.api.rate_limit_seconds,
    )


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[NemoClient]:
    """A `NemoClient` with its own HTTP client, closed on exit."""
    timeout = httpx.Timeout(
        settings.api.read_timeout_seconds, connect=settings.api.connect_timeout_seconds
    )
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
        yield NemoClient(
            http,
            settings.api,
            settings.export,
            state_dir=settings.folders.state_dir,
            retry=retry_policy(settings),
        )
