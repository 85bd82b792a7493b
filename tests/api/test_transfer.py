"""Streaming uploads (multipart from disk) and downloads (hidden part file, published whole)."""

from __future__ import annotations

import email
import email.policy
import gzip
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from apifakes import ANON_TOKEN, BASE, envelope, ok
from pydantic import SecretStr

from nemowatch.api import NemoClient, RenderState, RenderStatus
from nemowatch.api.transfer import CHUNK, MultipartFiles
from nemowatch.errors import (
    IncompleteDownloadError,
    InputError,
    SessionLostError,
    UnsupportedFileError,
)

SID = "sess-7"
UPLOAD = f"/api/upload-video/nemo_agent/me/{SID}"
RENDER_ID = "render_1700000000000"
FALLBACK = f"/api/render/proxy/{RENDER_ID}/download"
CDN = "https://cdn.test/out/render.mp4"
MiB = 1024 * 1024


def parse_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body by hand, strictly: exact bytes, CRLF framing, closing boundary."""
    boundary = content_type.split("boundary=", 1)[1].encode()
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    assert pieces[0] == b"", "nothing may precede the first boundary"
    assert pieces[-1] == b"--\r\n", "the body ends with the closing boundary"
    parts = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n") and piece.endswith(b"\r\n")
        head, separator, payload = piece[2:-2].partition(b"\r\n\r\n")
        assert separator
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((headers, payload))
    return parts


def parse_with_email(body: bytes, content_type: str) -> list[email.message.Message]:
    """The same body read by the standard library's MIME parser."""
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    message = email.message_from_bytes(raw, policy=email.policy.HTTP)
    assert message.is_multipart()
    return list(message.iter_parts())  # type: ignore[attr-defined]


@pytest.fixture
def media(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "inbox"
    folder.mkdir()
    files = {
        "clip.mp4": os.urandom(3000) + b"\r\n--not-a-boundary\r\n" + os.urandom(100),
        "big.mov": os.urandom(CHUNK + 12345),  # more than one read chunk
        "empty.mp3": b"",
        "photo.jpg": os.urandom(17),
    }
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.fixture
def upload_route(server: respx.MockRouter) -> respx.Route:
    return server.post(UPLOAD).mock(return_value=ok({"files": ["x"]}))


# -- upload ---------------------------------------------------------------------


async def test_upload_body_is_multipart_with_one_files_part_per_file_with_exact_bytes(
    client: NemoClient, upload_route: respx.Route, media: list[Path]
) -> None:
    await client.upload(SID, media)
    request = upload_route.calls.last.request
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    parts = parse_multipart(request.content, content_type)
    assert len(parts) == len(media)
    for (headers, payload), path in zip(parts, media, strict=True):
        assert headers["Content-Disposition"] == (
            f'form-data; name="files"; filename="{path.name}"'
        )
        assert payload == path.read_bytes()
    assert parts[0][0]["Content-Type"] == "video/mp4"
    assert parts[2][0]["Content-Type"] == "audio/mpeg"


async def test_upload_body_is_read_the_same_by_the_standard_mime_parser(
    client: NemoClient, upload_route: respx.Route, media: list[Path]
) -> None:
    await client.upload(SID, media)
    request = upload_route.calls.last.request
    parts = parse_with_email(request.content, request.headers["Content-Type"])
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["files"] * 4
    assert [p.get_filename() for p in parts] == [p.name for p in media]
    assert [p.get_payload(decode=True) for p in parts] == [p.read_bytes() for p in media]


async def test_upload_sends_content_length_and_no_chunked_encoding(
    client: NemoClient, upload_route: respx.Route, media: list[Path]
) -> None:
    result = await client.upload(SID, media)
    request = upload_route.calls.last.request
    assert int(request.headers["Content-Length"]) == len(request.content)
    assert "Transfer-Encoding" not in request.headers
    assert result.bytes_sent == sum(p.stat().st_size for p in media)
    assert result.data == {"files": ["x"]}
    assert request.headers["Authorization"] == f"Bearer {ANON_TOKEN}"


async def test_upload_progress_is_monotonic_and_ends_at_the_total(
    client: NemoClient, upload_route: respx.Route, media: list[Path]
) -> None:
    seen: list[tuple[int, int]] = []
    await client.upload(SID, media, progress=lambda done, total: seen.append((done, total)))
    total = sum(p.stat().st_size for p in media)
    assert seen[-1] == (total, total)
    assert all(t == total for _, t in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert len(seen) >= 4  # one per chunk read: the big file alone takes two


async def test_multipart_content_length_matches_the_streamed_body(media: list[Path]) -> None:
    body = MultipartFiles(media, chunk_size=1000)
    streamed = b"".join([chunk async for chunk in body])
    assert len(streamed) == body.content_length
    assert [payload for _, payload in parse_multipart(streamed, body.content_type)] == [
        p.read_bytes() for p in media
    ]


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ('my "best" clip.mp4', "my %22best%22 clip.mp4"),
        ("back\\slash.mp4", "back\\\\slash.mp4"),
        ("line\nbreak.mp4", "line%0Abreak.mp4"),
        ("caf\u00e9.mp4", "caf\u00e9.mp4"),
    ],
)
async def test_upload_escapes_filenames_that_would_break_the_header(
    client: NemoClient, upload_route: respx.Route, tmp_path: Path, name: str, quoted: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"abc")
    await client.upload(SID, [path])
    request = upload_route.calls.last.request
    ((headers, payload),) = parse_multipart(request.content, request.headers["Content-Type"])
    assert headers["Content-Disposition"] == f'form-data; name="files"; filename="{quoted}"'
    assert payload == b"abc"


async def test_file_that_shrinks_during_upload_raises_input_error(
    client: NemoClient, upload_route: respx.Route, tmp_path: Path
) -> None:
    path = tmp_path / "growing.mp4"
    path.write_bytes(os.urandom(2 * CHUNK))  # two reads: it shrinks after the first

    def shrink(done: int, total: int) -> None:
        with path.open("r+b") as f:
            f.truncate(10)

    with pytest.raises(InputError, match="growing.mp4"):
        await client.upload(SID, [path], progress=shrink)
    assert upload_route.call_count == 0  # never a short body sent as if it were whole


async def test_upload_refused_type_is_raised_after_one_request(
    client: NemoClient, server: respx.MockRouter, media: list[Path]
) -> None:
    route = server.post(UPLOAD).respond(200, json=envelope(code=4001, message="type"))
    with pytest.raises(UnsupportedFileError):
        await client.upload(SID, media[:1])
    assert route.call_count == 1


async def test_retried_upload_sends_the_whole_body_again(
    client: NemoClient, server: respx.MockRouter, media: list[Path]
) -> None:
    route = server.post(UPLOAD).mock(side_effect=[httpx.Response(502), ok()])
    await client.upload(SID, media)
    first, second = (call.request for call in route.calls)
    assert len(first.content) == int(first.headers["Content-Length"])
    assert second.content == first.content


# -- download -------------------------------------------------------------------


def completed(url: str | None = CDN) -> RenderStatus:
    return RenderStatus(RENDER_ID, RenderState.COMPLETED, 100.0, url)


def video_bytes(size: int = 5000) -> bytes:
    """An MP4's first box (`ftyp`), then noise: what a download is checked for."""
    head = b"\x00\x00\x00\x18ftypmp42"
    return head + os.urandom(size - len(head))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


async def test_download_uses_output_url_first_without_the_api_token(
    make_client, server: respx.MockRouter, outbox: Path
) -> None:
    client = make_client(api={"token": SecretStr("nmv_usr_owntoken123")})  # a token in hand
    data = video_bytes(2 * MiB + 77)  # more than one buffered write
    cdn = server.get(CDN).respond(200, content=data, headers={"content-type": "video/mp4"})
    fallback = server.get(FALLBACK).respond(200, content=video_bytes(100))
    dest = outbox / "result.mp4"
    assert await client.download(completed(), dest) == dest
    assert dest.read_bytes() == data
    assert "Authorization" not in cdn.calls.last.request.headers
    assert fallback.call_count == 0
    assert leftovers(outbox) == []


async def test_relative_output_url_is_resolved_against_the_api_address(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    data = video_bytes()
    route = server.get("/files/r.mp4").respond(200, content=data)
    await client.download(completed("/files/r.mp4"), outbox / "r.mp4")
    assert route.call_count == 1
    assert str(route.calls.last.request.url) == f"{BASE}/files/r.mp4"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(404),
        httpx.Response(403, text="AccessDenied"),
        httpx.ConnectError("cdn unreachable"),
    ],
    ids=["404", "403", "connect"],
)
async def test_failed_output_url_falls_back_to_the_api_path_with_the_token(
    client: NemoClient, server: respx.MockRouter, outbox: Path, failure: object
) -> None:
    data = video_bytes()
    server.get(CDN).mock(side_effect=[failure])
    fallback = server.get(FALLBACK).respond(200, content=data)
    dest = outbox / "result.mp4"
    await client.download(completed(), dest)
    assert dest.read_bytes() == data
    assert fallback.calls.last.request.headers["Authorization"] == f"Bearer {ANON_TOKEN}"
    assert leftovers(outbox) == []


async def test_output_url_shorter_than_content_length_falls_back(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    data = video_bytes()
    server.get(CDN).respond(200, content=data[:1000], headers={"Content-Length": str(len(data))})
    fallback = server.get(FALLBACK).respond(200, content=data)
    dest = outbox / "result.mp4"
    await client.download(completed(), dest)
    assert fallback.call_count == 1
    assert dest.read_bytes() == data
    assert leftovers(outbox) == []


async def test_missing_output_url_goes_straight_to_the_fallback(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    data = video_bytes()
    fallback = server.get(FALLBACK).respond(200, content=data)
    await client.download(completed(None), outbox / "r.mp4")
    assert fallback.call_count == 1
    assert (outbox / "r.mp4").read_bytes() == data


async def test_size_mismatch_on_the_fallback_raises_incomplete_download(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    server.get(CDN).respond(404)
    fallback = server.get(FALLBACK).respond(
        200, content=b"x" * 100, headers={"Content-Length": "5000"}
    )
    dest = outbox / "result.mp4"
    with pytest.raises(IncompleteDownloadError, match="100 of 5000"):
        await client.download(completed(), dest)
    assert fallback.call_count == 3  # transient: 1 + retries
    assert not dest.exists()
    assert leftovers(outbox) == []


async def test_json_error_instead_of_the_video_raises_its_code(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    server.get(FALLBACK).respond(200, json=envelope(code=1002, message="gone"))
    with pytest.raises(SessionLostError):
        await client.download(completed(None), outbox / "r.mp4")
    assert not (outbox / "r.mp4").exists()
    assert leftovers(outbox) == []


async def test_token_error_on_the_fallback_renews_and_repeats_once(
    client: NemoClient, server: respx.MockRouter, anon: respx.Route, outbox: Path
) -> None:
    data = video_bytes()
    fallback = server.get(FALLBACK).mock(
        side_effect=[
            httpx.Response(401, json=envelope(code=1001)),
            httpx.Response(200, content=data),
        ]
    )
    await client.download(completed(None), outbox / "r.mp4")
    assert fallback.call_count == 2
    assert anon.call_count == 2
    assert (outbox / "r.mp4").read_bytes() == data


@pytest.mark.parametrize("url", [CDN, None], ids=["output-url", "fallback"])
async def test_existing_destination_is_never_overwritten(
    client: NemoClient, server: respx.MockRouter, outbox: Path, url: str | None
) -> None:
    outbox.mkdir()
    dest = outbox / "result.mp4"
    dest.write_bytes(b"earlier result")
    server.get(CDN).respond(200, content=video_bytes())
    fallback = server.get(FALLBACK).respond(200, content=video_bytes())
    with pytest.raises(FileExistsError):
        await client.download(completed(url), dest)
    assert dest.read_bytes() == b"earlier result"
    assert leftovers(outbox) == []
    assert fallback.call_count <= 1  # not retried as if it were a network fault


async def test_download_progress_ends_at_the_size(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    data = video_bytes(12345)
    server.get(CDN).respond(200, content=data)
    seen: list[tuple[int, int]] = []
    await client.download(completed(), outbox / "r.mp4", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_download_cut_midway_leaves_no_part_file_and_uses_the_fallback(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    data = video_bytes()

    async def cut() -> Any:
        yield data[:1000]
        raise httpx.RemoteProtocolError("peer closed connection")

    server.get(CDN).mock(
        side_effect=lambda request: httpx.Response(
            200, content=cut(), headers={"Content-Length": str(len(data))}
        )
    )
    fallback = server.get(FALLBACK).respond(200, content=data)
    await client.download(completed(), outbox / "r.mp4")
    assert fallback.call_count == 1
    assert (outbox / "r.mp4").read_bytes() == data
    assert leftovers(outbox) == []


async def test_download_served_with_content_encoding_is_saved_decoded(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    data = b"\x00\x00\x00\x18ftypmp42" + b"mdat" * 3000  # compressible, like some containers

    def maybe_gzip(request: httpx.Request) -> httpx.Response:
        # As a CDN does: compress only when the client says it accepts gzip.
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            packed = gzip.compress(data)
            return httpx.Response(
                200,
                content=packed,
                headers={"Content-Encoding": "gzip", "Content-Length": str(len(packed))},
            )
        return httpx.Response(200, content=data)

    server.get(CDN).mock(side_effect=maybe_gzip)
    fallback = server.get(FALLBACK).respond(404)
    await client.download(completed(), outbox / "r.mp4")
    assert (outbox / "r.mp4").read_bytes() == data
    assert fallback.call_count == 0


async def test_a_download_that_is_not_an_mp4_is_never_published_and_the_fallback_is_used(
    client: NemoClient, server: respx.MockRouter, outbox: Path
) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    server.get(CDN).respond(200, content=page, headers={"content-type": "video/mp4"})
    data = video_bytes()
    server.get(FALLBACK).respond(200, content=data)
    dest = outbox / "result.mp4"
    assert await client.download(completed(), dest) == dest
    assert dest.read_bytes() == data
    assert leftovers(outbox) == []


async def test_the_daemons_http_client_keeps_no_cookies() -> None:
    """The API authenticates with a bearer token: a cookie set by an answer is not sent
    back (the client does not even read it)."""
    from nemowatch.api.client import _TokenOnlyClient

    with respx.mock(base_url="https://api.example.com") as server:
        route = server.get("/a").mock(
            return_value=httpx.Response(200, headers={"set-cookie": "sid=abc; Path=/"})
        )
        async with _TokenOnlyClient() as http:
            await http.get("https://api.example.com/a")
            await http.get("https://api.example.com/a")
            assert len(http.cookies) == 0
    assert [c.request.headers.get("cookie") for c in route.calls] == [None, None]
