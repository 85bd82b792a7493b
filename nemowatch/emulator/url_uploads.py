"""The upload call's JSON form: the emulator fetches each URL itself, as the service does.

``{"urls": [...], "source_type": "url"}`` makes the service download the files;
no media bytes travel in the request. Here each URL is fetched with httpx and
stored exactly as a multipart part is, so state, renders and durations do not
know the difference.

The emulator must never reach the internet: only loopback hosts (127.0.0.0/8,
``::1``, ``localhost``) are fetched, redirects included; any other host is
refused before any connection or name lookup, as the service refuses a URL it
cannot fetch. A fetch that fails (refused, timed out, not HTTP 200) is refused
the same way, with ``FETCH_FAILED`` (4003: the API page has no code for it).

The type comes from the URL's path, else from the answer's Content-Type; an
extension the path shows is judged before anything is fetched (4001). The
limit is the multipart one (4002), checked against Content-Length and again
while the body arrives. All or nothing: one refused URL stores none.

The journal record gets ``source: "url"``, ``urls``, and ``fetches``: per URL
``{"url", "fetched", "status", "size", "error"}``, where ``fetched`` is false
when no request was sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx
from aiohttp import web

from nemowatch.emulator.envelope import answer, current_call, read_json
from nemowatch.emulator.media import MediaKind, media_kind
from nemowatch.emulator.uploads import discard, duration_ms, too_large, unsupported
from nemowatch.emulator.world import FETCH_FAILED, ApiFailure, Media, Session, World

_SHAPE = 'expected {"urls": ["<url>", ...], "source_type": "url"}'
_MAX_REDIRECTS = 5
#: Content-Type -> extension, for a URL whose path shows none
_CONTENT_TYPES = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-msvideo": "avi",
    "video/avi": "avi",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
}


class _Refused(Exception):
    """A fetch that cannot give the file: an answer other than 200, a redirect off loopback."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback IP literal.

    Names other than ``localhost`` are never resolved: a lookup would already
    be network access, and a name may resolve anywhere.
    """
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def upload(world: World, request: web.Request, session: Session) -> web.Response:
    """Answer the upload call's JSON form for ``session``."""
    call = current_call()
    urls = _urls(await read_json(request))
    call.note(first_byte_at=time.time(), source="url", urls=urls)
    fetches: list[dict[str, Any]] = []
    call.note(fetches=fetches)
    media: list[Media] = []
    try:
        for number, url in enumerate(urls, 1):
            entry: dict[str, Any] = {
                "url": url,
                "fetched": False,
                "status": None,
                "size": 0,
                "error": None,
            }
            fetches.append(entry)
            try:
                media.append(await _fetch_one(world, number, url, entry))
            except ApiFailure as exc:
                entry["error"] = exc.message
                raise
            media[-1].duration_ms = await duration_ms(world, media[-1].kind, media[-1].path)
    except BaseException:
        discard(media)
        raise
    session.media.extend(media)
    session.bump()
    return answer({"files": [m.info() for m in media]})


def _urls(body: Any) -> list[str]:
    """The URL list of a well-formed body.

    Raises:
        ApiFailure: 400 when the body does not have the documented shape.
    """
    if not isinstance(body, dict) or body.get("source_type", "url") != "url":
        raise ApiFailure(400, _SHAPE)
    urls = body.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise ApiFailure(400, _SHAPE)
    return urls


def _cannot_fetch(number: int, parts: SplitResult | None, why: str) -> ApiFailure:
    """4003, naming the URL by its place and host (its path and query may be secret)."""
    host = f" ({parts.hostname})" if parts is not None and parts.hostname else ""
    return ApiFailure(FETCH_FAILED, f"could not fetch URL {number}{host}: {why}")


async def _fetch_one(world: World, number: int, url: str, entry: dict[str, Any]) -> Media:
    """Fetch one URL into the uploads folder, as a multipart part is stored (duration 0)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise _cannot_fetch(number, None, "malformed URL") from None
    name = unquote(PurePosixPath(parts.path).name)
    kind = media_kind(name) if "." in name else None
    if "." in name and kind is None:
        raise unsupported(name)  # the path says what it is: nothing to fetch
    if parts.scheme.lower() not in ("http", "https"):
        raise _cannot_fetch(number, parts, f"{parts.scheme or 'no'} scheme; http(s) only")
    if not is_loopback(parts.hostname):
        raise _cannot_fetch(number, parts, "the emulator fetches loopback addresses only")
    path = world.uploads_dir / f"{secrets.token_hex(8)}.part"
    try:
        try:
            name, kind, size = await _download(world, url, name, kind, path, entry)
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise _cannot_fetch(number, parts, why) from None
        except _Refused as exc:
            raise _cannot_fetch(number, parts, str(exc)) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    stored = path.with_suffix(PurePosixPath(name).suffix[:16])
    path.rename(stored)
    return Media("med_" + secrets.token_hex(10), name, size, kind, 0, stored)


async def _download(
    world: World,
    url: str,
    name: str,
    kind: MediaKind | None,
    path: Path,
    entry: dict[str, Any],
) -> tuple[str, MediaKind, int]:
    """GET ``url`` into ``path``; the name and kind (from Content-Type when the path had none).

    Raises:
        ApiFailure: 4001 by Content-Type, 4002 over the limit.
        httpx.HTTPError: the fetch failed.
        _Refused: a redirect left loopback.
    """
    timeout = httpx.Timeout(world.settings.url_fetch_timeout_seconds)
    async with httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=_MAX_REDIRECTS,
        trust_env=False,  # never through a proxy of the environment
        event_hooks={"request": [_loopback_only]},
    ) as http:
        entry["fetched"] = True
        async with http.stream("GET", url) as response:
            entry["status"] = response.status_code
            if response.status_code != 200:
                raise _Refused(f"HTTP {response.status_code}")
            if kind is None:
                ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
                ext = _CONTENT_TYPES.get(ctype)
                kind = media_kind(f"x.{ext}") if ext else None
                if kind is None:
                    raise unsupported(f"{name or 'download'} ({ctype or 'no Content-Type'})")
                name = f"{name or 'download'}.{ext}"
            limit = world.settings.max_upload_bytes
            if int(response.headers.get("content-length") or 0) > limit:
                raise too_large(world)
            with path.open("wb") as file:
                await _write_body(world, response, file, entry)
    return name, kind, int(entry["size"])


async def _write_body(
    world: World, response: httpx.Response, file: IO[bytes], entry: dict[str, Any]
) -> None:
    """Copy the body to ``file``; 4002 as soon as it passes the limit."""
    limit = world.settings.max_upload_bytes
    async for chunk in response.aiter_bytes():
        entry["size"] += len(chunk)
        if entry["size"] > limit:
            raise too_large(world)
        await asyncio.to_thread(file.write, chunk)


async def _loopback_only(request: httpx.Request) -> None:
    """Every request the fetch sends, redirects included, stays on this machine."""
    if not is_loopback(request.url.host):
        raise _Refused(f"redirected to {request.url.host}, which is not a loopback address")
