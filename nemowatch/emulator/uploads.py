"""The upload call's multipart form: parts streamed to disk (the JSON form: ``url_uploads``).

Each ``files`` part goes to disk chunk by chunk (writes run in a thread), so a
500 MB upload costs no memory. The journal record shows the parts and the bytes
actually received as they arrive, so a dropped upload still shows how far it
got, and ``first_byte_at`` tells benchmarks when the body started to arrive.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import IO, Any

from aiohttp import BodyPartReader, web

from nemowatch.emulator.agent import abort
from nemowatch.emulator.envelope import answer, current_call
from nemowatch.emulator.media import ACCEPTED_EXTS, MediaKind, media_kind, probe_duration_ms
from nemowatch.emulator.world import ApiFailure, Media, Session, World

_CHUNK = 256 * 1024
# Room for the multipart framing when judging a request by its Content-Length.
_FRAMING = 1024 * 1024


def unsupported(name: str) -> ApiFailure:
    """4001, listing the accepted types."""
    accepted = ", ".join(sorted(ACCEPTED_EXTS))
    return ApiFailure(4001, f"unsupported file type: {name!r} (accepted: {accepted})")


def too_large(world: World) -> ApiFailure:
    """4002, with the limit in force."""
    return ApiFailure(4002, f"file too large: the limit is {world.settings.max_upload_mb:g} MB")


async def upload(world: World, request: web.Request, session: Session) -> web.Response:
    """Answer the upload call's multipart form for ``session``."""
    call = current_call()
    call.note(source="files")
    fault = call.fault
    if fault is not None and fault.drop_after_bytes is not None:
        return await _read_then_drop(request, fault.drop_after_bytes)
    # One request may carry several files, so Content-Length alone proves a
    # file too large only when even the whole request cannot hold a legal one.
    if (request.content_length or 0) > world.settings.max_upload_bytes + _FRAMING:
        raise too_large(world)
    summary: list[dict[str, Any]] = []
    call.note(body={"files": summary})
    media: list[Media] = []
    try:
        await _receive_parts(world, request, summary, media)
    except ConnectionError:  # the client hung up: nothing is stored
        discard(media)
        call.note(aborted=True)
        return web.Response()
    except BaseException:
        discard(media)
        raise
    if not media:
        raise ApiFailure(400, "no part named 'files' in the upload")
    session.media.extend(media)
    session.bump()
    return answer({"files": [m.info() for m in media]})


def discard(media: list[Media]) -> None:
    """Remove the stored files of an upload that failed: all or nothing."""
    for item in media:
        if item.path is not None:
            item.path.unlink(missing_ok=True)


async def _receive_parts(
    world: World, request: web.Request, summary: list[dict[str, Any]], media: list[Media]
) -> None:
    """Stream every ``files`` part to disk, recording what arrives."""
    reader = await request.multipart()
    first = True
    while True:
        part = await reader.next()
        if first:
            current_call().note(first_byte_at=time.time())
            first = False
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            continue
        entry: dict[str, Any] = {"field": part.name, "name": part.filename, "size": 0}
        summary.append(entry)
        if part.name != "files":
            await part.release()
            continue
        name = part.filename or ""
        kind = media_kind(name)
        if kind is None:
            await _drain(request)
            raise unsupported(name)
        # the stored name keeps only the suffix: an upload's name may use all 255 bytes
        path = world.uploads_dir / f"{secrets.token_hex(8)}{Path(name).suffix[:16]}"
        media.append(Media("med_" + secrets.token_hex(10), name, 0, kind, 0, path))
        with path.open("wb") as file:
            size = await _write_part(world, request, part, file, entry)
        media[-1].size = size
        media[-1].duration_ms = await duration_ms(world, kind, path)


async def _write_part(
    world: World, request: web.Request, part: BodyPartReader, file: IO[bytes], entry: dict[str, Any]
) -> int:
    """Copy one part to ``file``; 4002 as soon as it passes the limit."""
    limit = world.settings.max_upload_bytes
    while chunk := await part.read_chunk(_CHUNK):
        entry["size"] += len(chunk)
        if entry["size"] > limit:
            await _drain(request)
            raise too_large(world)
        await asyncio.to_thread(file.write, chunk)
    return int(entry["size"])


async def _drain(request: web.Request) -> None:
    """Read and discard the rest of the body, so the client gets the answer."""
    while await request.content.read(_CHUNK):
        pass


async def duration_ms(world: World, kind: MediaKind, path: Path | None) -> int:
    """How long a medium plays: ffmpeg's answer, else the defaults."""
    if kind == "image":
        return round(world.settings.image_seconds * 1000)
    if path is not None and world.ffmpeg is not None:
        probed = await probe_duration_ms(world.ffmpeg, path)
        if probed:
            return probed
    return round(world.settings.default_media_seconds * 1000)


async def _read_then_drop(request: web.Request, limit: int) -> web.Response:
    """Fault: take ``limit`` body bytes, then cut the connection."""
    call = current_call()
    received = 0
    call.note(body={"files": [], "received_bytes": 0})
    while received < limit:
        chunk = await request.content.read(min(_CHUNK, limit - received))
        if not chunk:
            break
        if received == 0:
            call.note(first_byte_at=time.time())
        received += len(chunk)
    call.note(body={"files": [], "received_bytes": received})
    await abort(request)
    call.note(aborted=True)
    return web.Response(status=200)
