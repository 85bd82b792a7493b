"""Streaming uploads and downloads, with the blocking disk I/O off the event loop.

httpx's own `files=` reads files in 64 KiB blocking reads on the event loop
and cannot report progress, so the multipart body is produced here: its
length is known in advance (Content-Length is sent, no chunked encoding) and
every read runs in a worker thread, `CHUNK` bytes at a time, the next one while
the last is being sent.

A download goes to a hidden part file beside its destination, is checked
against Content-Length, fsynced, and only then linked into place whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from nemowatch.api.envelope import check, read_answer, translated
from nemowatch.errors import (
    ApiError,
    IncompleteDownloadError,
    InputError,
    NotAVideoError,
    TransportError,
)
from nemowatch.fsutil import fsync_dir

log = logging.getLogger("nemowatch.api")

Progress = Callable[[int, int], None]
CHUNK = 4 * 1024 * 1024


def _quote(name: str) -> str:
    # As browsers do (and httpx): escape the characters that end the quoted value.
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartFiles:
    """A `multipart/form-data` body of files under one field name, streamed from disk."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        field: str = "files",
        progress: Progress | None = None,
        chunk_size: int = CHUNK,
    ) -> None:
        self.boundary = uuid.uuid4().hex
        self._paths = list(paths)
        self._sizes = [p.stat().st_size for p in self._paths]
        self._heads = [self._head(field, p) for p in self._paths]
        self._tail = f"--{self.boundary}--\r\n".encode()
        self._progress = progress
        self._chunk = chunk_size
        #: every byte of the body was handed to the connection (the last attempt's)
        self.sent_whole = False
        #: the sha256 of each file read whole by the last attempt, from the bytes it sent
        #: (the duplicate guard's key: no second read of a large file)
        self.sha256: dict[Path, str] = {}

    def _head(self, field: str, path: Path) -> bytes:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{_quote(path.name)}"\r\n'
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def file_bytes(self) -> int:
        return sum(self._sizes)

    @property
    def content_length(self) -> int:
        framing = sum(len(h) + 2 for h in self._heads) + len(self._tail)
        return framing + self.file_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.sent_whole = False
        self.sha256 = {}
        sent = 0
        for path, size, head in zip(self._paths, self._sizes, self._heads, strict=True):
            yield head
            f: BinaryIO = await asyncio.to_thread(open, path, "rb")
            # The next chunk is read while the one before is being sent: the socket
            # never waits for the disk (two chunks in memory at most).
            remaining = size
            digest = hashlib.sha256()
            reading = self._read(f, remaining, digest) if remaining > 0 else None
            try:
                while reading is not None:
                    chunk = await reading
                    reading = None
                    if not chunk:
                        raise InputError(f"{path.name} became shorter while it was uploaded")
                    remaining -= len(chunk)
                    sent += len(chunk)
                    if remaining > 0:
                        reading = self._read(f, remaining, digest)
                    if self._progress:
                        self._progress(sent, self.file_bytes)
                    yield chunk
            finally:
                if reading is not None:
                    await asyncio.wait([reading])  # a read in a thread cannot be cancelled
                    if not reading.cancelled():
                        reading.exception()  # retrieved: the error that ends the upload came first
                if not f.closed:
                    await asyncio.to_thread(f.close)
            self.sha256[path] = digest.hexdigest()
            yield b"\r\n"
        self.sent_whole = True  # from here on, a lost answer leaves the outcome unknown
        yield self._tail

    def _read(self, f: BinaryIO, remaining: int, digest: Any) -> asyncio.Future[bytes]:
        read = asyncio.to_thread(_read_chunk, f, self._chunk, remaining, digest)
        return asyncio.ensure_future(read)


def _read_chunk(f: BinaryIO, chunk: int, remaining: int, digest: Any) -> bytes:
    """The next chunk, hashed in the same thread (reads of one file run one after the
    other, so the digest sees them in order); the file is closed with the last one."""
    data = f.read(min(chunk, remaining))
    digest.update(data)
    if len(data) >= remaining:
        f.close()
    return data


class PartFile:
    """A download target: a hidden temporary file beside `dest`, published whole.

    With `part` given, the temporary file is the caller's (named in its journal):
    it is overwritten if an earlier attempt left it, and kept after `publish()`
    as a second link to the result, which the caller removes once it has
    recorded the result: a restart in between recognises its own result by it.
    """

    def __init__(self, dest: Path, part: Path | None = None) -> None:
        self.dest = dest
        self.owned = part is None
        self.published = False
        self.tmp = part or dest.with_name(f".nw-{uuid.uuid4().hex[:8]}.part")
        self._f: BinaryIO | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self.size = 0
        #: the first bytes written, for a look at the file's type
        self.head = b""

    async def __aenter__(self) -> PartFile:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._f = await asyncio.to_thread(open, self.tmp, "xb" if self.owned else "wb")
        return self

    async def write(self, chunk: bytes) -> None:
        """Collect the network's small chunks; every `CHUNK` bytes, one write in a thread."""
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + chunk)[:HEAD_BYTES]
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self.size += len(chunk)
        if self._buffered >= CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        if self._chunks and self._f is not None:
            await asyncio.to_thread(self._f.write, self._take())

    def _take(self) -> bytes:
        data = b"".join(self._chunks)  # the one copy: appending to a buffer made two
        self._chunks, self._buffered = [], 0
        return data

    async def publish(self) -> Path:
        """The rest written, fsync, then linked to `dest` (never replacing a file there).

        One trip to a worker thread for all of it: a small result costs two in all.
        """
        assert self._f is not None
        f, self._f = self._f, None
        try:
            await asyncio.to_thread(_finish, f, self._take(), self.tmp, self.dest, self.owned)
        except TakenMeanwhileError:
            self.published = True  # whole and fsynced: the caller gives it another name
            raise
        self.published = True
        return self.dest

    async def __aexit__(self, *exc: object) -> None:
        if self._f is not None:
            await asyncio.to_thread(self._f.close)
        if self.owned or not self.published:
            self.tmp.unlink(missing_ok=True)


def _finish(f: BinaryIO, data: bytes, tmp: Path, dest: Path, remove_tmp: bool) -> None:
    try:
        f.write(data)
        f.flush()
        os.fdatasync(f.fileno())  # the data and length; its times matter to no reader
    finally:
        f.close()
    try:
        _link_no_replace(tmp, dest)
    except FileExistsError:
        if remove_tmp:
            raise
        raise TakenMeanwhileError(str(dest)) from None
    if remove_tmp:
        tmp.unlink()


class TakenMeanwhileError(FileExistsError):
    """The result's name was taken during the download; the caller's part file is whole."""


def _link_no_replace(src: Path, dest: Path) -> None:
    os.link(src, dest)  # FileExistsError rather than overwriting an earlier result
    fsync_dir(dest.parent)


async def download(
    http: httpx.AsyncClient,
    dest: Path,
    *,
    output_url: str | None,
    fallback: Callable[[], Awaitable[Path]],
    progress: Progress | None = None,
    part: Path | None = None,
) -> Path:
    """Fetch a render into `dest`, which must not exist yet: `output_url`, then `fallback`.

    `output_url` is fetched without the API token or any header of ours (it
    may be another host, a signed link); when it is missing or fails,
    `fallback` fetches the API's download path (with the token and retries).
    `part`: the caller's temporary file (see `PartFile`).
    """
    if part is None and dest.exists():  # a caller with its own part takes a taken name later
        raise FileExistsError(f"{dest} exists; a result is never overwritten")
    if output_url:
        try:
            return await fetch(http, output_url, dest, "output", progress=progress, part=part)
        except ApiError as exc:
            log.warning("download from output.url failed (%s); using the fallback", exc)
    return await fallback()


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    endpoint: str,
    *,
    headers: dict[str, str] | None = None,
    progress: Progress | None = None,
    part: Path | None = None,
) -> Path:
    """One GET streamed into a `PartFile`, size-checked, then published as `dest`.

    Raises:
        IncompleteDownloadError: the body was not as long as its Content-Length.
        TransportError: the connection failed, or a JSON answer came instead of the video.
        ApiCodeError: an error answer.
    """
    async with PartFile(dest, part) as target:
        with translated(endpoint):
            async with http.stream("GET", url, headers=headers or {}) as response:
                if response.status_code >= 400 or response.headers.get(
                    "content-type", ""
                ).startswith("application/json"):
                    check(response, endpoint, await read_answer(response, endpoint))
                    raise TransportError(f"{endpoint}: a JSON answer instead of the video")
                expected = _content_length(response)
                # Decoded bytes to disk (a Content-Encoding is undone); the
                # size check counts the bytes on the wire, as Content-Length does.
                async for chunk in response.aiter_bytes():
                    await target.write(chunk)
                    if progress:
                        progress(response.num_bytes_downloaded, expected or 0)
                received = response.num_bytes_downloaded
        if expected is not None and received != expected:
            raise IncompleteDownloadError(f"{endpoint}: received {received} of {expected} bytes")
        if dest.suffix.lower() in ISO_MEDIA and target.head[4:8] != b"ftyp":
            raise NotAVideoError(
                f"{endpoint}: the download does not start as an MP4 does "
                f"({target.head[:8]!r}); not delivered"
            )
        return await target.publish()


#: results in the ISO media format, which starts with an `ftyp` box at byte 4
ISO_MEDIA = (".mp4", ".mov", ".m4v")
HEAD_BYTES = 12


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None
