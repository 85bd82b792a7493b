"""The web page's drop zone: uploads in chunks into the inbox, then renamed in.

    POST   /api/drop                 {"files": [{"name", "size"}], "instructions", "mode"}
                                     -> {"id", "chunk"}; refused (413) when a file is over
                                     jobs.max_file_mb, before any byte is sent
    PUT    /api/drop/{id}/{n}?offset=N   the next bytes of file n (offset: what it has)
    POST   /api/drop/{id}/finish     the files renamed into the inbox -> {"message", "names"}
    DELETE /api/drop/{id}            give up: the partial files are removed
    POST   /drop                     the page's form posted without JavaScript: the
                                     files whole in one multipart body (each refused
                                     past jobs.max_file_mb as it comes), then placed
                                     the same way; answered with a redirect to the queue

The files are written into `<inbox>/.nw-drop-<id>/`, a hidden folder the inbox
ignores. At the end, "each" (one job per video) renames a note `<stem>.txt`
and then the video into the inbox, per file; "bundle" writes the note into the
folder and renames the whole folder in. Either way the inbox sees complete
files appear, which settle, are claimed and go down the normal path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from nemowatch.errors import NotFoundError, UsageError
from nemowatch.media import MB
from nemowatch.web import forms
from nemowatch.web.forms import Said
from nemowatch.web.names import free_stem, name_max, safe_name, stem_of
from nemowatch.web.routes import answer
from nemowatch.web.security import MULTIPART
from nemowatch.web.site import SITE

log = logging.getLogger("nemowatch")

PREFIX = ".nw-drop-"
#: what the page sends in one request
CHUNK = 4 * MB
#: uploads open at once
OPEN_MAX = 16
NOTE = "instructions.txt"
#: the most read of a form's text field (the instructions, a .txt file, the mode)
TEXT_MAX = 1 * MB


@dataclass
class Upload:
    folder: Path
    mode: str
    text: str
    names: list[str]
    sizes: list[int]
    received: list[int] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


UPLOADS = web.AppKey[dict[str, Upload]]("uploads")


async def start(request: web.Request) -> web.Response:
    settings = request.app[SITE].settings()
    inbox, limit = settings.folders.inbox, settings.jobs.max_file_mb * MB
    body = await _json(request)
    files, text = body.get("files"), str(body.get("instructions") or "").strip()
    mode = body.get("mode", "each")
    if not isinstance(files, list) or not files or mode not in ("each", "bundle"):
        raise UsageError('give {"files": [{"name", "size"}, ...], "mode": "each"|"bundle"}')
    if not text and not settings.watch.default_instructions:
        raise UsageError("say what to do: type the instructions, or choose a .txt file")
    uploads = request.app[UPLOADS]
    if len(uploads) >= OPEN_MAX:
        raise UsageError(f"{OPEN_MAX} uploads are under way already; wait for one to end")
    most = name_max(inbox)
    names: list[str] = []
    sizes: list[int] = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("size"), int):
            raise UsageError('each file is {"name": ..., "size": bytes}')
        name, size = safe_name(str(item.get("name", "")), most), int(item["size"])
        if size < 0:
            raise UsageError(f"{name}: a size cannot be negative")
        if size > limit:
            why = f"{name} is {size / MB:.3g} MB, over the {limit / MB:g} MB of jobs.max_file_mb"
            return answer({"error": f"{why}; nothing was uploaded", "ids": []}, 413)
        names.append(_unique(name, names))
        sizes.append(size)
    upload_id = secrets.token_hex(8)
    folder = inbox / f"{PREFIX}{upload_id}"
    await asyncio.to_thread(_create, folder, names)
    uploads[upload_id] = Upload(folder, mode, text, names, sizes, [0] * len(names))
    return answer({"id": upload_id, "chunk": CHUNK, "names": names})


def _unique(name: str, names: list[str]) -> str:
    """`name`, or `name (2)` ..., unlike the other files of the upload and its note."""
    stem, n, wanted = stem_of(name), 1, name
    while name.casefold() in (x.casefold() for x in names) or name == NOTE:
        n += 1
        name = f"{stem} ({n}){Path(wanted).suffix}"
    return name


def _create(folder: Path, names: list[str]) -> None:
    folder.mkdir(mode=0o700)
    for name in names:
        (folder / name).touch()


async def chunk(request: web.Request) -> web.Response:
    upload = _upload(request)
    try:
        index = int(request.match_info["n"])
        offset = int(request.query.get("offset", "-1"))
        name, size = upload.names[index], upload.sizes[index]
    except (ValueError, IndexError):
        raise UsageError("no such file in this upload, or no ?offset=") from None
    async with upload.lock:
        if offset != upload.received[index]:
            return answer({"error": "out of order", "ids": [], "received": offset}, 409)
        data = bytearray()
        async for piece in request.content.iter_chunked(256 * 1024):
            data += piece
            if len(data) > CHUNK or offset + len(data) > size:
                raise UsageError(f"{name}: more bytes than announced ({size})")
        await asyncio.to_thread(_append, upload.folder / name, offset, bytes(data))
        upload.received[index] = offset + len(data)
    return answer({"received": upload.received[index]})


def _append(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)
        file.truncate()


async def finish(request: web.Request) -> web.Response:
    upload = _upload(request)
    async with upload.lock:
        short = [
            n for n, s, r in zip(upload.names, upload.sizes, upload.received, strict=True) if s != r
        ]
        if short:
            raise UsageError(f"not every byte arrived yet: {', '.join(short)}")
        inbox = request.app[SITE].settings().folders.inbox
        placed = await asyncio.to_thread(_place, upload, inbox)
        request.app[UPLOADS].pop(request.match_info["id"], None)
    return answer({"message": _dropped(upload, placed, inbox), "names": placed})


def _dropped(upload: Upload, placed: list[str], inbox: Path) -> str:
    """Logs the drop; what the page says of it."""
    what = "job" if upload.mode == "bundle" or len(placed) == 1 else "jobs"
    log.info("the web page dropped %s into %s", ", ".join(placed), inbox)
    return f"{len(placed)} {what} in the inbox: {', '.join(placed)}"


async def form(request: web.Request) -> web.Response:
    """The drop zone's form, posted without JavaScript (see the module's docstring)."""
    settings = request.app[SITE].settings()
    inbox = settings.folders.inbox
    reader = request.get(MULTIPART) or await request.multipart()  # past the CSRF field
    folder = inbox / f"{PREFIX}{secrets.token_hex(8)}"
    await asyncio.to_thread(folder.mkdir, 0o700)
    try:
        upload = await _receive(reader, folder, settings.jobs.max_file_mb * MB, name_max(inbox))
        if not upload.names:
            raise UsageError("choose a video first; nothing was sent")
        upload.text = upload.text or settings.watch.default_instructions.strip()
        if not upload.text:
            raise UsageError("say what to do: type the instructions, or choose a .txt file")
        placed = await asyncio.to_thread(_place, upload, inbox)
    except UsageError as exc:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        raise forms.back(request, Said(str(exc), problem=True), "/") from None
    raise forms.back(request, Said(_dropped(upload, placed, inbox)), "/")


async def _receive(reader: MultipartReader, folder: Path, limit: float, most: int) -> Upload:
    """The form's files written into `folder`, its fields read (in whatever order)."""
    upload = Upload(folder, "each", "", [], [])
    typed = note = ""
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise UsageError("a form inside a form is not taken")
        if part.name == "files" and part.filename:
            name = _unique(safe_name(part.filename, most), upload.names)
            upload.sizes.append(await _write(part, folder / name, limit))
            upload.names.append(name)
        elif part.name in ("instructions", "note", "mode"):
            text = await _text(part)
            if part.name == "mode" and text in ("each", "bundle"):
                upload.mode = text
            elif part.name == "instructions":
                typed = text
            elif part.name == "note" and part.filename:
                note = text
        else:
            await part.release()
    upload.text = typed or note
    upload.received = list(upload.sizes)
    return upload


async def _text(part: BodyPartReader) -> str:
    """A text field (or a .txt file), `TEXT_MAX` bytes of it at most, stripped."""
    data = b""
    while len(data) < TEXT_MAX and (chunk := await part.read_chunk(TEXT_MAX - len(data))):
        data += chunk
    await part.release()  # what is past TEXT_MAX
    return data.decode("utf-8", errors="replace").strip()


async def _write(part: BodyPartReader, path: Path, limit: float) -> int:
    """A file part written to `path`; its size. Refused once it passes `limit` bytes."""
    file = await asyncio.to_thread(path.open, "wb")
    size = 0
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit:
                raise UsageError(
                    f"{path.name} is over the {limit / MB:g} MB of jobs.max_file_mb; "
                    "nothing was placed in the inbox"
                )
            await asyncio.to_thread(file.write, chunk)
    finally:
        await asyncio.to_thread(file.close)
    return size


def _place(upload: Upload, inbox: Path) -> list[str]:
    """Rename the files (and their notes) into the inbox; the names given there."""
    text = upload.text + "\n" if upload.text else ""
    if upload.mode == "bundle":
        stem = free_stem(inbox, stem_of(upload.names[0]), [""])
        if text:
            (upload.folder / NOTE).write_text(text, encoding="utf-8")
        os.rename(upload.folder, inbox / stem)
        return [stem]
    placed: list[str] = []
    for name in upload.names:
        suffix = Path(name).suffix
        stem = free_stem(inbox, stem_of(name), [suffix, ".txt"])
        if text:  # the note first: the video finds it at once
            note = upload.folder / f"{stem}.txt"
            note.write_text(text, encoding="utf-8")
            os.rename(note, inbox / note.name)
        os.rename(upload.folder / name, inbox / f"{stem}{suffix}")
        placed.append(f"{stem}{suffix}")
    upload.folder.rmdir()
    return placed


async def abort(request: web.Request) -> web.Response:
    upload = request.app[UPLOADS].pop(request.match_info["id"], None)
    if upload is not None:
        await asyncio.to_thread(shutil.rmtree, upload.folder, True)
    return answer({"message": "upload given up"})


def _upload(request: web.Request) -> Upload:
    upload = request.app[UPLOADS].get(request.match_info["id"])
    if upload is None:
        raise NotFoundError("no such upload (it ended, or the daemon restarted): send again")
    return upload


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise UsageError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object")
    return body


def remove_leftovers(inbox: Path) -> None:
    """Partial uploads of an earlier run (or of this one, at its stop) are removed."""
    with contextlib.suppress(OSError):
        for path in inbox.glob(f"{PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)


def add_routes(app: web.Application) -> None:
    app[UPLOADS] = {}
    app.router.add_post("/api/drop", start)
    app.router.add_put("/api/drop/{id}/{n}", chunk)
    app.router.add_post("/api/drop/{id}/finish", finish)
    app.router.add_delete("/api/drop/{id}", abort)
    app.router.add_post("/drop", form)

    async def tidy(app: web.Application) -> None:
        app[UPLOADS].clear()
        await asyncio.to_thread(remove_leftovers, app[SITE].settings().folders.inbox)

    app.on_startup.append(tidy)
    app.on_cleanup.append(tidy)
