"""Renders: the export lifecycle, the output file and how it is served.

A render is ``pending`` for the first tenth of ``render_seconds``, then
``processing`` with a rising ``progress``, and ``completed`` only once both the
time has passed and the MP4 exists. The MP4 is the first video of the draft
transcoded to H.264 by ffmpeg; without ffmpeg (or with ``transcode`` off) it is
the uploaded bytes. An upload ffmpeg cannot decode (tests often upload fake
bytes) renders as a test pattern, so a render fails only when a fault says so.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import shutil
import time
from hashlib import sha256
from pathlib import Path
from typing import Any

from aiohttp import web

from nemowatch.emulator.agent import abort
from nemowatch.emulator.envelope import current_call
from nemowatch.emulator.media import MediaError, synthesize, transcode
from nemowatch.emulator.world import Media, Render, World

log = logging.getLogger(__name__)

_STEPS = 10
_CHUNK = 256 * 1024
# The smallest valid start of an MP4: an ``ftyp`` box, for a draft with no media
# and no ffmpeg. Not playable, but recognisably an MP4.
_FTYP_STUB = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def sign(world: World, render_id: str) -> str:
    """The signature that lets the output URL work without a token."""
    return hmac.new(world.secret, render_id.encode(), sha256).hexdigest()[:32]


def view(render: Render, base_url: str) -> dict[str, Any]:
    """The render as the poll answer shows it."""
    shown: dict[str, Any] = {
        "id": render.render_id,
        "status": render.status,
        "progress": render.progress,
    }
    if render.status == "completed":
        url = f"{base_url}/_files/renders/{render.render_id}.mp4?sig={render.signature}"
        shown["output"] = {"url": url, "size": render.size, "format": "mp4"}
    if render.error is not None:
        shown["error"] = render.error
    return shown


async def run_render(
    world: World, render: Render, media: list[Media], seconds_hint: float, fail: bool
) -> None:
    """Move a render through its states; produce its MP4 meanwhile."""
    seconds = world.settings.render_seconds
    producing = (
        None if fail else asyncio.ensure_future(_produce(world, render, media, seconds_hint))
    )
    try:
        for step in range(1, _STEPS + 1):
            await asyncio.sleep(seconds / _STEPS)
            render.status = "processing"
            render.progress = min(99, step * 100 // _STEPS)
        if producing is None:
            render.status, render.error = "failed", "Render failed (injected fault)."
            return
        try:
            render.path = await producing
        except MediaError as exc:
            render.status, render.error = "failed", f"Render failed: {exc}"
            return
        render.size = render.path.stat().st_size
        render.progress, render.status = 100, "completed"
        render.completed_at = time.time()
    finally:
        if producing is not None and not producing.done():
            producing.cancel()
            await asyncio.gather(producing, return_exceptions=True)


async def _produce(world: World, render: Render, media: list[Media], seconds: float) -> Path:
    """Write the render's MP4 and return its path."""
    target = world.renders_dir / f"{render.render_id}.mp4"
    source = next((m for m in media if m.kind == "video" and m.path is not None), None)
    ffmpeg = world.ffmpeg if world.settings.transcode else None
    if ffmpeg is not None:
        if source is not None and source.path is not None:
            try:
                await transcode(ffmpeg, source.path, target)
                return target
            except MediaError as exc:
                log.info("cannot decode %s, rendering a test pattern: %s", source.name, exc)
        await synthesize(ffmpeg, target, min(seconds, 10.0))
        return target
    upload = source or next((m for m in media if m.path is not None), None)
    if upload is not None and upload.path is not None:
        await asyncio.to_thread(shutil.copyfile, upload.path, target)
    else:
        target.write_bytes(_FTYP_STUB)
    return target


async def send_file(
    request: web.Request, path: Path, name: str, drop_after_bytes: int | None
) -> web.StreamResponse:
    """Stream a file with its Content-Length; a fault cuts it after some bytes."""
    size = path.stat().st_size
    headers = {"Content-Type": "video/mp4", "Content-Disposition": f'attachment; filename="{name}"'}
    if request.method == "HEAD":
        return web.Response(headers={**headers, "Content-Length": str(size)})
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    limit = size if drop_after_bytes is None else min(size, drop_after_bytes)
    sent = 0
    try:
        await response.prepare(request)
        with path.open("rb") as file:
            while sent < limit:
                chunk = await asyncio.to_thread(file.read, min(_CHUNK, limit - sent))
                if not chunk:
                    break
                await response.write(chunk)
                sent += len(chunk)
        if drop_after_bytes is not None:
            await abort(request)
            current_call().note(aborted=True)
    except ConnectionError:  # the client hung up
        current_call().note(aborted=True)
    current_call().note(sent_bytes=sent)
    return response
