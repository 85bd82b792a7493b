"""Upload by URL: the emulator fetches loopback URLs itself, and refuses every other one.

A real small HTTP server on 127.0.0.1 serves the test clip; the emulator is
the real server too. A spy on httpx's transport sees every request the
emulator's fetch puts on the network, so "refused without fetching" is
checked, not assumed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emukit import Nemo

from devkit.fileserver import Files
from nemowatch.emulator import FETCH_FAILED, EmulatorServer, EmulatorSettings

UPLOAD = "/api/upload-video/nemo_agent/me/{sid}"


@pytest.fixture
def files(emu_video: Path) -> Iterator[Files]:
    server = Files(emu_video.read_bytes())
    yield server
    server.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "emulator-data"


@pytest.fixture
def emu(knobs: dict[str, Any], data_dir: Path) -> Iterator[EmulatorServer]:
    """The conftest's emulator, with its data folder where the test can look."""
    with EmulatorServer(settings=EmulatorSettings(**knobs), data_dir=data_dir) as server:
        yield server


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request httpx's async transport puts on the network (redirect hops too)."""
    seen: list[str] = []
    real = httpx.AsyncHTTPTransport.handle_async_request

    async def spy(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return await real(self, request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", spy)
    return seen


@pytest.fixture
def sid(nemo: Nemo) -> str:
    nemo.token()
    return nemo.session()


def post_urls(nemo: Nemo, sid: str, *urls: str) -> dict[str, Any]:
    response = nemo.http.post(
        UPLOAD.format(sid=sid), json={"urls": list(urls), "source_type": "url"}
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def stored(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "uploads").iterdir())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_url_is_fetched_and_becomes_media_of_the_session(
    emu: EmulatorServer,
    nemo: Nemo,
    sid: str,
    files: Files,
    emu_video: Path,
    data_dir: Path,
    host: str,
) -> None:
    url = files.url("/media/city.mp4", host)
    body = post_urls(nemo, sid, url)
    assert body["code"] == 0, body
    (info,) = body["data"]["files"]
    size = emu_video.stat().st_size
    assert (info["name"], info["type"], info["size"]) == ("city.mp4", "video", size)
    assert 1400 <= info["duration_ms"] <= 1600  # ffmpeg read the fetched file
    (shown,) = nemo.state(sid)["video_infos"]
    assert shown["media_id"] == info["media_id"] and shown["size"] == size
    assert files.asked == ["/media/city.mp4"]
    (kept,) = stored(data_dir)
    assert kept.suffix == ".mp4" and kept.read_bytes() == emu_video.read_bytes()
    (record,) = emu.control.journal("upload")
    assert record["source"] == "url" and record["urls"] == [url]
    assert record["body"] == {"urls": [url], "source_type": "url"}  # no bytes in the request
    assert record["fetches"] == [
        {"url": url, "fetched": True, "status": 200, "size": size, "error": None}
    ]
    assert record["status"] == 200 and record["code"] == 0


def test_a_multipart_upload_is_journaled_as_files(
    emu: EmulatorServer, nemo: Nemo, sid: str, emu_video: Path
) -> None:
    assert nemo.upload(sid, emu_video).json()["code"] == 0
    (record,) = emu.control.journal("upload")
    assert record["source"] == "files" and "fetches" not in record


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.mp4",
        "https://10.1.2.3/a.mp4",
        "http://127.0.0.1.example.com/a.mp4",  # a name is never resolved, whatever it says
        "ftp://127.0.0.1/a.mp4",
        "file:///tmp/a.mp4",
    ],
)
def test_a_url_off_loopback_is_refused_without_any_network_access(
    emu: EmulatorServer, nemo: Nemo, sid: str, files: Files, sent: list[str], url: str
) -> None:
    good = files.url("/media/city.mp4")
    assert post_urls(nemo, sid, good)["code"] == 0
    assert sent == [good]  # the spy sees the fetches that do happen
    body = post_urls(nemo, sid, url)
    assert body["code"] == FETCH_FAILED, body
    assert body["message"].startswith("could not fetch URL 1")
    assert sent == [good]
    assert len(nemo.state(sid)["video_infos"]) == 1
    record = emu.control.journal("upload")[-1]
    (fetch,) = record["fetches"]
    assert fetch["fetched"] is False and fetch["status"] is None
    assert fetch["error"] == body["message"]


def test_a_redirect_is_followed_on_loopback_and_refused_before_it_leaves(
    nemo: Nemo, sid: str, files: Files, sent: list[str]
) -> None:
    assert post_urls(nemo, sid, files.url("/hop"))["code"] == 0
    assert files.asked == ["/hop", "/media/city.mp4"]
    body = post_urls(nemo, sid, files.url("/away.mp4"))
    assert body["code"] == FETCH_FAILED
    assert "example.com" in body["message"] and "not a loopback address" in body["message"]
    assert not [url for url in sent if "example.com" in url]
    assert len(nemo.state(sid)["video_infos"]) == 1


def test_a_404_is_refused_and_nothing_is_kept(
    emu: EmulatorServer, nemo: Nemo, sid: str, files: Files, data_dir: Path
) -> None:
    body = post_urls(nemo, sid, files.url("/missing.mp4"))
    assert body["code"] == FETCH_FAILED
    assert body["message"] == "could not fetch URL 1 (127.0.0.1): HTTP 404"
    assert files.asked == ["/missing.mp4"]
    assert nemo.state(sid)["video_infos"] == [] and stored(data_dir) == []
    (fetch,) = emu.control.journal("upload")[0]["fetches"]
    assert fetch["fetched"] is True and fetch["status"] == 404


def test_a_refused_connection_is_refused(nemo: Nemo, sid: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = post_urls(nemo, sid, f"http://127.0.0.1:{port}/a.mp4")
    assert body["code"] == FETCH_FAILED
    assert "ConnectError" in body["message"]


@pytest.mark.parametrize("knobs", [{"url_fetch_timeout_seconds": 0.3}])
def test_a_fetch_that_never_answers_times_out(nemo: Nemo, sid: str, files: Files) -> None:
    started = time.monotonic()
    body = post_urls(nemo, sid, files.url("/hang.mp4"))
    assert body["code"] == FETCH_FAILED
    assert "ReadTimeout" in body["message"]
    assert time.monotonic() - started < 5
    assert nemo.state(sid)["video_infos"] == []


@pytest.mark.parametrize("path", ["/notes.txt", "/clip.flv", "/My%20Song.exe"])
def test_an_extension_not_accepted_is_refused_without_fetching(
    nemo: Nemo, sid: str, files: Files, path: str
) -> None:
    body = post_urls(nemo, sid, files.url(path))
    assert body["code"] == 4001, body
    assert "unsupported file type" in body["message"] and "mp4" in body["message"]
    assert files.asked == []


def test_without_an_extension_the_content_type_decides(
    nemo: Nemo, sid: str, files: Files, data_dir: Path
) -> None:
    body = post_urls(nemo, sid, files.url("/stream"))
    assert body["code"] == 0, body
    (info,) = body["data"]["files"]
    assert (info["name"], info["type"]) == ("stream.mp4", "video")
    refused = post_urls(nemo, sid, files.url("/page"))
    assert refused["code"] == 4001
    assert "text/html" in refused["message"]
    assert len(stored(data_dir)) == 1  # the page was not kept


def test_the_size_limit_applies_by_content_length_and_while_the_body_arrives(
    emu: EmulatorServer, nemo: Nemo, sid: str, files: Files, emu_video: Path, data_dir: Path
) -> None:
    emu.control.set(max_upload_mb=emu_video.stat().st_size / 2 / 1024 / 1024)
    for path in ("/media/city.mp4", "/nolength.mp4"):
        body = post_urls(nemo, sid, files.url(path))
        assert body["code"] == 4002, (path, body)
    assert nemo.state(sid)["video_infos"] == [] and stored(data_dir) == []
    fetches = [r["fetches"][0] for r in emu.control.journal("upload")]
    assert fetches[0]["size"] == 0  # refused from the announced length, before reading
    assert fetches[1]["size"] > emu_video.stat().st_size / 2


def test_one_url_refused_keeps_none_of_the_others(
    nemo: Nemo, sid: str, files: Files, data_dir: Path
) -> None:
    body = post_urls(nemo, sid, files.url("/media/city.mp4"), files.url("/gone.mp4"))
    assert body["code"] == FETCH_FAILED
    assert body["message"].startswith("could not fetch URL 2 ")
    assert files.asked == ["/media/city.mp4", "/gone.mp4"]
    assert nemo.state(sid)["video_infos"] == [] and stored(data_dir) == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"urls": []},
        {"urls": "http://127.0.0.1/a.mp4"},
        {"urls": [""]},
        {"urls": ["http://127.0.0.1/a.mp4"], "source_type": "file"},
    ],
)
def test_a_body_of_another_shape_is_refused(
    nemo: Nemo, sid: str, files: Files, payload: dict[str, Any]
) -> None:
    response = nemo.http.post(UPLOAD.format(sid=sid), json=payload)
    assert response.status_code == 400
    assert "source_type" in response.json()["message"]
    assert files.asked == []
